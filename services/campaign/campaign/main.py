from fastapi import FastAPI

import campaign.models  # noqa: F401  (every table on the metadata)
from campaign import VERSION
from campaign.audience.router import router as audience_router
from campaign.campaigns.router import router as campaigns_router
from campaign.channels.router import router as channels_router
from campaign.database import metadata
from campaign.delivery.router import router as delivery_router
from campaign.segments.router import router as segments_router
from campaign.settings import CampaignSettings
from crm_common.service_app import create_service_app


def create_app(settings: CampaignSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or CampaignSettings(),
        metadata=metadata,
        routers=[audience_router, segments_router, campaigns_router, delivery_router, channels_router],
        title="CRM Campaign",
        description="Segments over a live customer read model, journeys and broadcasts, a delivery ledger "
        "that sends each message at most once and never skips one, holdout-measured results and "
        "Thompson-sampling optimization.",
        version=VERSION,
    )

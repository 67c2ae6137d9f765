from fastapi import FastAPI

from campaign import VERSION
from campaign.audience.router import router as audience_router
from campaign.database import metadata
from campaign.settings import CampaignSettings
from crm_common.service_app import create_service_app


def create_app(settings: CampaignSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or CampaignSettings(),
        metadata=metadata,
        routers=[audience_router],
        title="CRM Campaign",
        description="Builds audiences from the customer read model and runs closed-loop campaigns.",
        version=VERSION,
    )

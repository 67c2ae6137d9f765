from fastapi import FastAPI

from crm_common.service_app import create_service_app
from identity import VERSION
from identity.customers.router import router as customers_router
from identity.database import metadata
from identity.me.router import router as me_router
from identity.merges.router import router as merges_router
from identity.resolution.router import router as resolution_router
from identity.settings import IdentitySettings
from identity.suggestions.router import router as suggestions_router
from identity.webhooks.router import router as webhooks_router


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or IdentitySettings(),
        metadata=metadata,
        routers=[
            resolution_router,
            customers_router,
            merges_router,
            suggestions_router,
            me_router,
            webhooks_router,
        ],
        title="CRM Identity",
        description="Resolves identifiers from every channel into one customer with one timeline, "
        "reversibly and with evidence.",
        version=VERSION,
    )

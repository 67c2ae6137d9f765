from fastapi import FastAPI

from crm_common.service_app import create_service_app
from identity import VERSION
from identity.customers.router import router as customers_router
from identity.database import metadata
from identity.settings import IdentitySettings


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or IdentitySettings(),
        metadata=metadata,
        routers=[customers_router],
        title="CRM Identity",
        description="Resolves identifiers from every channel into one customer with one timeline.",
        version=VERSION,
    )

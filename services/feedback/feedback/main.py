from fastapi import FastAPI

from crm_common.service_app import create_service_app
from feedback import VERSION
from feedback.customers.router import router as customers_router
from feedback.database import metadata
from feedback.settings import FeedbackSettings


def create_app(settings: FeedbackSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or FeedbackSettings(),
        metadata=metadata,
        routers=[customers_router],
        title="CRM Feedback",
        description="Collects ideas, votes and comments from prosumers, tied to the customers who give them.",
        version=VERSION,
    )

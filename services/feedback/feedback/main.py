from fastapi import FastAPI

from crm_common.service_app import create_service_app
from feedback import VERSION
from feedback.advocates.router import router as advocates_router
from feedback.comments.router import router as comments_router
from feedback.complaints.router import router as complaints_router
from feedback.customers.router import router as customers_router
from feedback.database import metadata
from feedback.experience.router import router as experience_router
from feedback.idea_merges.router import router as idea_merges_router
from feedback.ideas.router import router as ideas_router
from feedback.moderation.router import router as moderation_router
from feedback.settings import FeedbackSettings
from feedback.touchpoints.router import router as touchpoints_router
from feedback.votes.router import router as votes_router


def create_app(settings: FeedbackSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or FeedbackSettings(),
        metadata=metadata,
        routers=[
            ideas_router,
            votes_router,
            comments_router,
            moderation_router,
            idea_merges_router,
            customers_router,
            experience_router,
            complaints_router,
            touchpoints_router,
            advocates_router,
        ],
        title="CRM Feedback",
        description="Collects ideas, votes and comments from prosumers, tied to the customers who give them.",
        version=VERSION,
    )

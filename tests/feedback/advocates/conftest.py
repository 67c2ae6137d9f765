import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from crm_common.events.consumer import ConsumerRunner
from feedback.advocates.consumers import advocates_consumer
from feedback.database import metadata
from feedback.settings import FeedbackSettings


@pytest.fixture
def advocates_runner(feedback_engine: AsyncEngine, feedback_settings: FeedbackSettings) -> ConsumerRunner:
    """The worker's advocates consumer, fed by hand through ``handle`` (no broker in between)."""
    return ConsumerRunner(
        advocates_consumer, session_factory(feedback_engine), metadata, feedback_settings.nats_url
    )

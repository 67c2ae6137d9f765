"""The advocates consumer: refreshes the advocate scores a vote or a feedback may have changed.

It reads the feedback service's own events (schema version 1), taking only the customer the event is
about: ``vote.cast`` changes the upvotes its idea's author received, ``feedback.received`` changes the
giver's NPS or positive feedback. A refresh recomputes from the current facts, so events arriving late,
twice or out of order leave the right score.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import EventEnvelope, subject_for
from crm_common.events.consumer import EventConsumer
from feedback.advocates import service

VOTE_CAST = subject_for("feedback", "vote.cast")
FEEDBACK_RECEIVED = subject_for("feedback", "feedback.received")


class VoteCastV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    idea_author_id: uuid.UUID | None = None


class FeedbackReceivedV1(BaseModel):
    model_config = ConfigDict(extra="ignore")

    customer_id: uuid.UUID | None = None


async def on_vote_cast(session: AsyncSession, envelope: EventEnvelope) -> None:
    author_id = VoteCastV1.model_validate(envelope.payload).idea_author_id
    if author_id is not None:  # an erased author's idea counts for no one
        await service.refresh_scores(session, [author_id])


async def on_feedback_received(session: AsyncSession, envelope: EventEnvelope) -> None:
    customer_id = FeedbackReceivedV1.model_validate(envelope.payload).customer_id
    if customer_id is not None:
        await service.refresh_scores(session, [customer_id])


advocates_consumer = EventConsumer(
    name="feedback-advocates",
    handlers={VOTE_CAST: on_vote_cast, FEEDBACK_RECEIVED: on_feedback_received},
)

"""Feedback responses: NPS, CSAT and free text at a touchpoint, scored for sentiment, published as
``feedback.received``; the aggregates the touchpoint and advocate domains build on.

A response is *negative* (EXPERIENCE.md) when any of these holds: its text's sentiment is negative, it
is an NPS detractor (0-6), its CSAT is 1 or 2, or it is a complaint.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.errors import FieldError, ValidationFailed
from crm_common.events.outbox import record_event
from crm_common.ratelimit import Rate, enforce_rate
from feedback.database import metadata
from feedback.experience import repository
from feedback.experience.errors import FeedbackNotFound
from feedback.experience.models import FeedbackKind, FeedbackResponse
from feedback.experience.repository import CustomerScores, CustomerSignals, WindowCounts
from feedback.experience.schemas import FeedbackCreate
from feedback.sentiment import service as sentiment
from feedback.settings import FeedbackSettings

__all__ = ["CustomerScores", "CustomerSignals", "WindowCounts"]

PRODUCER = "feedback"
NPS_DETRACTOR_MAX = 6
NPS_PROMOTER_MIN = 9
CSAT_NEGATIVE_MAX = 2


def is_negative(*, kind: str, nps: int | None, csat: int | None, sentiment_label: str | None) -> bool:
    """The one definition of a negative response, used by health, the crisis detector and events."""
    return (
        kind == FeedbackKind.COMPLAINT
        or sentiment_label == sentiment.SentimentLabel.NEGATIVE
        or (nps is not None and nps <= NPS_DETRACTOR_MAX)
        or (csat is not None and csat <= CSAT_NEGATIVE_MAX)
    )


def _kind_errors(data: FeedbackCreate) -> list[FieldError]:
    """Which rating goes with which kind: checked here because it spans fields."""
    errors: list[FieldError] = []

    def expect(field: str, present: bool, wanted: bool) -> None:
        if present and not wanted:
            errors.append(
                FieldError(
                    field=f"body.{field}", message=f"not allowed with kind '{data.kind}'", code="extra"
                )
            )
        elif wanted and not present:
            errors.append(
                FieldError(field=f"body.{field}", message=f"required with kind '{data.kind}'", code="missing")
            )

    expect("nps", data.nps is not None, data.kind == FeedbackKind.NPS)
    expect("csat", data.csat is not None, data.kind == FeedbackKind.CSAT)
    if data.kind == FeedbackKind.COMMENT:
        expect("comment", data.comment is not None, True)
    return errors


async def submit_feedback(
    session: AsyncSession, settings: FeedbackSettings, *, customer_id: uuid.UUID, data: FeedbackCreate
) -> FeedbackResponse:
    """A customer's NPS, CSAT or comment: checked, rate-limited per customer, scored and published."""
    errors = _kind_errors(data)
    if errors:
        raise ValidationFailed(f"{len(errors)} field(s) failed validation.", errors=errors)
    await enforce_rate(
        session,
        metadata,
        caller=str(customer_id),
        action="feedback.submit",
        rate=Rate(*settings.feedback_submit_rate),
    )
    return await record_feedback(
        session,
        settings,
        customer_id=customer_id,
        kind=FeedbackKind(data.kind),
        channel=data.channel.value,
        touchpoint=data.touchpoint,
        nps=data.nps,
        csat=data.csat,
        comment=data.comment,
        campaign_id=data.campaign_id,
        message_id=data.message_id,
    )


async def record_feedback(
    session: AsyncSession,
    settings: FeedbackSettings,
    *,
    customer_id: uuid.UUID | None,
    kind: FeedbackKind,
    channel: str,
    touchpoint: str,
    nps: int | None = None,
    csat: int | None = None,
    comment: str | None = None,
    campaign_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    received_at: datetime | None = None,
) -> FeedbackResponse:
    """Store one response and publish ``feedback.received`` in the same transaction.

    The complaints domain records its complaints through here (kind ``complaint``); ``received_at``
    is for imports of feedback given earlier (a call centre's batch), and defaults to now.
    """
    scored = await sentiment.score(comment, neutral_band=settings.sentiment_neutral_band) if comment else None
    label = scored.label.value if scored else None
    response = await repository.add(
        session,
        FeedbackResponse(
            customer_id=customer_id,
            kind=kind.value,
            channel=channel,
            touchpoint=touchpoint,
            nps_score=nps,
            csat_score=csat,
            comment=comment,
            sentiment_score=scored.score if scored else None,
            sentiment_label=label,
            negative=is_negative(kind=kind, nps=nps, csat=csat, sentiment_label=label),
            campaign_id=campaign_id,
            message_id=message_id,
            received_at=received_at or datetime.now(UTC),
        ),
    )
    await record_event(
        session,
        metadata,
        producer=PRODUCER,
        event_type="feedback.received",
        subject_id=str(response.id),
        payload=received_payload(response),
    )
    return response


def received_payload(response: FeedbackResponse) -> dict[str, Any]:
    """``feedback.received`` v1: ids, ratings and the sentiment, never the free text."""

    def text(value: uuid.UUID | None) -> str | None:
        return str(value) if value is not None else None

    return {
        "feedback_id": str(response.id),
        "customer_id": text(response.customer_id),
        "kind": response.kind,
        "channel": response.channel,
        "touchpoint": response.touchpoint,
        "nps": response.nps_score,
        "csat": response.csat_score,
        "sentiment_score": response.sentiment_score,
        "sentiment_label": response.sentiment_label,
        "negative": response.negative,
        "campaign_id": text(response.campaign_id),
        "message_id": text(response.message_id),
        "received_at": response.received_at.isoformat(),
    }


async def get_feedback(session: AsyncSession, feedback_id: uuid.UUID) -> FeedbackResponse:
    response = await repository.get(session, feedback_id)
    if response is None:
        raise FeedbackNotFound(f"No feedback with id {feedback_id}.")
    return response


async def get_many(
    session: AsyncSession, feedback_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, FeedbackResponse]:
    """Responses by id, for other domains that refer to them (complaints show their text)."""
    return {response.id: response for response in await repository.get_many(session, feedback_ids)}


async def list_feedback(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None = None,
    touchpoint: str | None = None,
    channel: str | None = None,
    kind: str | None = None,
    sentiment_label: str | None = None,
    negative: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int,
) -> list[FeedbackResponse]:
    """Responses matching the filters, newest first, keyset-paginated after ``after``."""
    return await repository.list_responses(
        session,
        customer_id=customer_id,
        touchpoint=touchpoint,
        channel=channel,
        kind=kind,
        sentiment=sentiment_label,
        negative=negative,
        since=since,
        until=until,
        after=after,
        limit=limit,
    )


async def feedback_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, limit: int
) -> dict[uuid.UUID, list[FeedbackResponse]]:
    """The first ``limit`` responses of each customer, in :func:`list_feedback` order (newest first),
    for a batch of customers at once (the gateway's loaders); every requested customer is a key."""
    return await repository.first_pages_of_customers(
        session, list(dict.fromkeys(customer_ids)), per_customer=limit
    )


async def customer_scores(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CustomerScores]:
    """Each customer's latest NPS, NPS answers, mean CSAT and CSAT answers (zero counts for one who
    gave none); every requested customer is a key. Erased feedback belongs to no one and counts for no
    one; complaints and comments are not scores."""
    return await repository.customer_scores(session, list(dict.fromkeys(customer_ids)))


async def touchpoints_in_range(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    touchpoint: str | None,
    channel: str | None,
    after: str | None,
    limit: int,
) -> list[str]:
    """Touchpoints that received feedback in [since, until), in name order after ``after``."""
    return await repository.touchpoints_in_range(
        session, since=since, until=until, touchpoint=touchpoint, channel=channel, after=after, limit=limit
    )


async def window_counts(
    session: AsyncSession,
    *,
    window: str,
    tz: str,
    since: datetime,
    until: datetime,
    touchpoints: Sequence[str],
    channel: str | None,
) -> list[WindowCounts]:
    """Volume, negatives, NPS and CSAT counts per touchpoint and calendar window (hour, day, week in
    the time zone ``tz``), for touchpoint health."""
    return await repository.window_counts(
        session, window=window, tz=tz, since=since, until=until, touchpoints=touchpoints, channel=channel
    )


async def negative_counts(
    session: AsyncSession, *, since: datetime, until: datetime, window: timedelta, active_since: datetime
) -> dict[str, dict[datetime, int]]:
    """Negatives per touchpoint and fixed-length window in [since, until), for the touchpoints with a
    negative since ``active_since``: the crisis detector's input."""
    return await repository.negative_counts(
        session, since=since, until=until, window=window, active_since=active_since
    )


async def customer_signals(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CustomerSignals]:
    """Latest NPS and positive-feedback count of each customer (the advocate score's inputs)."""
    return await repository.customer_signals(session, customer_ids)


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> None:
    """identity merged ``from_id`` into ``to_id``: their responses follow, each recorded under
    ``merge_id`` so :func:`restore_customer` moves exactly those back. Safe to repeat."""
    await repository.move_customer(session, merge_id=merge_id, from_id=from_id, to_id=to_id)


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> None:
    """identity undid the merge: the responses it moved return to ``restored_id``. Safe to repeat."""
    await repository.restore_customer(session, merge_id=merge_id, restored_id=restored_id)


async def erase_customer(session: AsyncSession, *, customer_ids: list[uuid.UUID]) -> None:
    """identity erased the customers: their responses lose the customer id, the text and the message
    id (which the campaign service could trace back to the person); ratings, sentiment and the
    negative flag stay, de-identified, so touchpoint health does not change. Safe to repeat."""
    await repository.erase(session, customer_ids)

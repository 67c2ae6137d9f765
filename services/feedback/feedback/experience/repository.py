"""All SQL of the experience domain: feedback responses, their aggregates and their customer lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ARRAY,
    DateTime,
    Interval,
    String,
    Uuid,
    cast,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from crm_common.db import any_of, table_of
from feedback.customers import moves
from feedback.experience.models import FeedbackResponse

MOVE_KIND = "feedback_response"
# date_bin needs an origin; any fixed instant aligned to the hour keeps windows on round times.
WINDOW_ORIGIN = datetime.fromisoformat("2000-01-03T00:00:00+00:00")  # a Monday

_response = table_of(FeedbackResponse)


async def add(session: AsyncSession, response: FeedbackResponse) -> FeedbackResponse:
    session.add(response)
    await session.flush()
    return response


async def get(session: AsyncSession, feedback_id: uuid.UUID) -> FeedbackResponse | None:
    return await session.get(FeedbackResponse, feedback_id)


async def get_many(session: AsyncSession, feedback_ids: Sequence[uuid.UUID]) -> list[FeedbackResponse]:
    if not feedback_ids:
        return []
    statement = select(FeedbackResponse).where(any_of(_response.c.id, feedback_ids, Uuid()))
    return list((await session.execute(statement)).scalars())


async def list_responses(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    touchpoint: str | None,
    channel: str | None,
    kind: str | None,
    sentiment: str | None,
    negative: bool | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[FeedbackResponse]:
    """Newest first, keyset-paginated on (received_at, id)."""
    statement = select(FeedbackResponse)
    filters = {
        _response.c.customer_id: customer_id,
        _response.c.touchpoint: touchpoint,
        _response.c.channel: channel,
        _response.c.kind: kind,
        _response.c.sentiment_label: sentiment,
        _response.c.negative: negative,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    if since is not None:
        statement = statement.where(_response.c.received_at >= since)
    if until is not None:
        statement = statement.where(_response.c.received_at < until)
    if after is not None:
        statement = statement.where(
            func.row(_response.c.received_at, _response.c.id)
            < func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_response.c.received_at.desc(), _response.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


@dataclass(frozen=True)
class WindowCounts:
    """What one touchpoint received in one window."""

    touchpoint: str
    window_start: datetime
    volume: int
    negatives: int
    complaints: int
    nps_responses: int
    promoters: int
    detractors: int
    csat_responses: int
    csat_sum: int


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
    """The touchpoints with feedback in the range, in name order after ``after``."""
    statement = (
        select(_response.c.touchpoint)
        .distinct()
        .where(_response.c.received_at >= since, _response.c.received_at < until)
    )
    if touchpoint is not None:
        statement = statement.where(_response.c.touchpoint == touchpoint)
    if channel is not None:
        statement = statement.where(_response.c.channel == channel)
    if after is not None:
        statement = statement.where(_response.c.touchpoint > after)
    statement = statement.order_by(_response.c.touchpoint).limit(limit)
    return list((await session.execute(statement)).scalars())


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
    """Counts per touchpoint and calendar window (``date_trunc`` in the time zone ``tz``)."""
    if not touchpoints:
        return []
    r = _response.c
    window_start = func.date_trunc(window, r.received_at, tz).label("window_start")
    statement = (
        select(
            r.touchpoint,
            window_start,
            func.count().label("volume"),
            func.count().filter(r.negative).label("negatives"),
            func.count().filter(r.kind == "complaint").label("complaints"),
            func.count(r.nps_score).label("nps_responses"),
            func.count().filter(r.nps_score >= 9).label("promoters"),
            func.count().filter(r.nps_score <= 6).label("detractors"),
            func.count(r.csat_score).label("csat_responses"),
            func.coalesce(func.sum(r.csat_score), 0).label("csat_sum"),
        )
        .where(
            r.received_at >= since,
            r.received_at < until,
            any_of(r.touchpoint, touchpoints, String()),
        )
        .group_by(r.touchpoint, window_start)
        .order_by(r.touchpoint, window_start)
    )
    if channel is not None:
        statement = statement.where(r.channel == channel)
    rows = await session.execute(statement)
    return [
        WindowCounts(
            touchpoint=row.touchpoint,
            window_start=row.window_start,
            volume=int(row.volume),
            negatives=int(row.negatives),
            complaints=int(row.complaints),
            nps_responses=int(row.nps_responses),
            promoters=int(row.promoters),
            detractors=int(row.detractors),
            csat_responses=int(row.csat_responses),
            csat_sum=int(row.csat_sum),
        )
        for row in rows
    ]


async def negative_counts(
    session: AsyncSession, *, since: datetime, until: datetime, window: timedelta, active_since: datetime
) -> dict[str, dict[datetime, int]]:
    """Negatives per touchpoint and fixed-length window (``date_bin``) in [since, until), for the
    touchpoints with at least one negative since ``active_since`` (only they can be spiking)."""
    r = _response.c
    active = (
        select(r.touchpoint)
        .distinct()
        .where(r.negative, r.received_at >= active_since, r.received_at < until)
        .scalar_subquery()
    )
    window_start = func.date_bin(
        literal(window, Interval()), r.received_at, literal(WINDOW_ORIGIN, DateTime(timezone=True))
    ).label("window_start")
    statement = (
        select(r.touchpoint, window_start, func.count().label("negatives"))
        .where(r.negative, r.received_at >= since, r.received_at < until, r.touchpoint.in_(active))
        .group_by(r.touchpoint, window_start)
    )
    counts: dict[str, dict[datetime, int]] = {}
    for row in await session.execute(statement):
        counts.setdefault(row.touchpoint, {})[row.window_start] = int(row.negatives)
    return counts


@dataclass(frozen=True)
class CustomerSignals:
    """What a customer's feedback says about them as an advocate."""

    latest_nps: int | None
    positive_feedback: int


async def customer_signals(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CustomerSignals]:
    """Latest NPS and the number of positive responses (positive sentiment or CSAT >= 4, complaints
    excluded) of each customer who has any feedback."""
    if not customer_ids:
        return {}
    r = _response.c
    latest = (
        select(r.customer_id, r.nps_score)
        .where(any_of(r.customer_id, customer_ids, Uuid()), r.kind == "nps")
        .ext(distinct_on(r.customer_id))
        .order_by(r.customer_id, r.received_at.desc(), r.id.desc())
    )
    latest_nps = {row.customer_id: int(row.nps_score) for row in await session.execute(latest)}
    positive = func.count().filter(
        r.kind != "complaint", (r.sentiment_label == "positive") | (r.csat_score >= 4)
    )
    counts = select(r.customer_id, positive.label("positive")).where(
        any_of(r.customer_id, customer_ids, Uuid())
    )
    positives = {
        row.customer_id: int(row.positive) for row in await session.execute(counts.group_by(r.customer_id))
    }
    return {
        customer_id: CustomerSignals(
            latest_nps=latest_nps.get(customer_id), positive_feedback=positives.get(customer_id, 0)
        )
        for customer_id in positives
    }


async def move_customer(
    session: AsyncSession, *, merge_id: uuid.UUID, from_id: uuid.UUID, to_id: uuid.UUID
) -> int:
    """Re-key ``from_id``'s responses to ``to_id``, recording each moved row under the merge."""
    return await moves.rekey_rows(
        session, _response.c.customer_id, kind=MOVE_KIND, merge_id=merge_id, from_id=from_id, to_id=to_id
    )


async def restore_customer(session: AsyncSession, *, merge_id: uuid.UUID, restored_id: uuid.UUID) -> int:
    """Give back to ``restored_id`` exactly the responses the merge moved, wherever they are now
    (unless erased since)."""
    return await moves.restore_rows(
        session, _response.c.customer_id, kind=MOVE_KIND, merge_id=merge_id, restored_id=restored_id
    )


async def erase(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> int:
    """De-identify the customers' responses: no customer, no text, no message id; scores stay."""
    if not customer_ids:
        return 0
    erased = await session.execute(
        update(_response)
        .where(any_of(_response.c.customer_id, customer_ids, Uuid()))
        .values(customer_id=None, comment=None, message_id=None, erased_at=func.now())
        .returning(_response.c.id)
    )
    return len(erased.all())


def _requested(customer_ids: Sequence[uuid.UUID]) -> Subquery:
    """``unnest(:ids) AS requested(customer_id)``: the FROM a batch read joins its LATERAL page to."""
    return select(func.unnest(literal(list(customer_ids), ARRAY(Uuid()))).label("customer_id")).subquery(
        "requested"
    )


async def first_pages_of_customers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID], *, per_customer: int
) -> dict[uuid.UUID, list[FeedbackResponse]]:
    """The first ``per_customer`` responses of each customer in :func:`list_responses` order (newest
    first, by (received_at, id)), for a whole batch in one statement: a LATERAL scan of
    ``ix_feedback_response_customer_id`` per customer, so one with years of feedback costs no more."""
    pages: dict[uuid.UUID, list[FeedbackResponse]] = {customer_id: [] for customer_id in customer_ids}
    if not pages:
        return pages
    r = _response.c
    requested = _requested(list(pages))
    page = (
        select(_response)
        .where(r.customer_id == requested.c.customer_id)
        .order_by(r.received_at.desc(), r.id.desc())
        .limit(per_customer)
        .lateral("page")
    )
    row = aliased(FeedbackResponse, page)
    statement = (
        select(row)
        .select_from(requested.join(page, true()))
        .order_by(page.c.customer_id, page.c.received_at.desc(), page.c.id.desc())
    )
    for response in (await session.execute(statement)).scalars():
        assert response.customer_id is not None  # matched on it
        pages[response.customer_id].append(response)
    return pages


@dataclass(frozen=True)
class CustomerScores:
    """What a customer's NPS and CSAT answers add up to."""

    latest_nps: int | None
    latest_nps_at: datetime | None
    nps_responses: int
    average_csat: float | None
    csat_responses: int


NO_SCORES = CustomerScores(
    latest_nps=None, latest_nps_at=None, nps_responses=0, average_csat=None, csat_responses=0
)


async def customer_scores(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CustomerScores]:
    """Latest NPS (and when), NPS answers, mean CSAT and CSAT answers of each customer, in one
    aggregate over ``ix_feedback_response_customer_id``; customers without any get :data:`NO_SCORES`."""
    scores = {customer_id: NO_SCORES for customer_id in customer_ids}
    if not scores:
        return scores
    r = _response.c
    is_nps, is_csat = r.kind == "nps", r.kind == "csat"
    newest_nps_first = func.array_agg(aggregate_order_by(r.nps_score, r.received_at.desc(), r.id.desc()))
    statement = (
        select(
            r.customer_id,
            newest_nps_first.filter(is_nps)[1].label("latest_nps"),
            func.max(r.received_at).filter(is_nps).label("latest_nps_at"),
            func.count().filter(is_nps).label("nps_responses"),
            func.avg(r.csat_score).filter(is_csat).label("average_csat"),
            func.count().filter(is_csat).label("csat_responses"),
        )
        .where(any_of(r.customer_id, list(scores), Uuid()), any_of(r.kind, ["nps", "csat"], String()))
        .group_by(r.customer_id)
    )
    for row in await session.execute(statement):
        scores[row.customer_id] = CustomerScores(
            latest_nps=int(row.latest_nps) if row.latest_nps is not None else None,
            latest_nps_at=row.latest_nps_at,
            nps_responses=int(row.nps_responses),
            # Rounded as touchpoint health rounds its mean CSAT.
            average_csat=round(float(row.average_csat), 3) if row.average_csat is not None else None,
            csat_responses=int(row.csat_responses),
        )
    return scores

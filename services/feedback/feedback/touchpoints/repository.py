"""All SQL of the touchpoints domain: the crisis alerts (health is computed from experience's counts)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Uuid, cast, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import table_of
from feedback.touchpoints.detector import Spike
from feedback.touchpoints.models import FeedbackAlert

_alert = table_of(FeedbackAlert)


async def add_alert_once(session: AsyncSession, spike: Spike, *, method: str) -> FeedbackAlert | None:
    """Insert the alert unless one exists for its touchpoint and window; the new alert, or None."""
    alert_id = (
        await session.execute(
            pg_insert(_alert)
            .values(
                id=uuid.uuid4(),
                touchpoint=spike.touchpoint,
                window_start=spike.window_start,
                window_end=spike.window_end,
                negative_count=spike.negatives,
                baseline_rate=spike.baseline_rate,
                p_value=spike.p_value,
                method=method,
            )
            .on_conflict_do_nothing(index_elements=[_alert.c.touchpoint, _alert.c.window_start])
            .returning(_alert.c.id)
        )
    ).scalar_one_or_none()
    if alert_id is None:
        return None
    return await session.get(FeedbackAlert, alert_id)


async def get(
    session: AsyncSession, alert_id: uuid.UUID, *, for_update: bool = False
) -> FeedbackAlert | None:
    statement = select(FeedbackAlert).where(_alert.c.id == alert_id)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def list_alerts(
    session: AsyncSession,
    *,
    touchpoint: str | None,
    acknowledged: bool | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[FeedbackAlert]:
    """Newest first, keyset-paginated on (raised_at, id)."""
    statement = select(FeedbackAlert)
    if touchpoint is not None:
        statement = statement.where(_alert.c.touchpoint == touchpoint)
    if acknowledged is True:
        statement = statement.where(_alert.c.acknowledged_at.is_not(None))
    elif acknowledged is False:
        statement = statement.where(_alert.c.acknowledged_at.is_(None))
    if after is not None:
        statement = statement.where(
            func.row(_alert.c.raised_at, _alert.c.id)
            < func.row(cast(after[0], DateTime(timezone=True)), cast(after[1], Uuid))
        )
    statement = statement.order_by(_alert.c.raised_at.desc(), _alert.c.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())

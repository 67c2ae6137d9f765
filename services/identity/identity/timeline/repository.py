"""The customer's timeline across channels, newest first, keyset-paginated."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Uuid, func, literal, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from crm_common.db import table_of
from identity.timeline.models import Touchpoint


async def timeline(
    session: AsyncSession,
    customer_id: uuid.UUID,
    *,
    channels: list[str] | None,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Touchpoint]:
    statement = select(Touchpoint).where(
        col(Touchpoint.customer_id) == customer_id,
        *_filters(channels=channels, types=types, since=since, until=until),
    )
    if after:
        statement = statement.where(
            func.row(col(Touchpoint.occurred_at), col(Touchpoint.id)) < func.row(after[0], after[1])
        )
    statement = statement.order_by(col(Touchpoint.occurred_at).desc(), col(Touchpoint.id).desc()).limit(limit)
    return list((await session.execute(statement)).scalars())


async def first_pages(
    session: AsyncSession,
    customer_ids: Sequence[uuid.UUID],
    *,
    channels: list[str] | None,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> dict[uuid.UUID, list[Touchpoint]]:
    """The newest ``limit`` touchpoints of each customer matching the filters, in one query.

    A LATERAL join rather than ``row_number()`` over everything: each customer's page is an index
    range scan on (customer_id, occurred_at DESC, id DESC) that stops after ``limit`` rows, so a
    customer with a long history costs no more than one with a short one.
    """
    found: dict[uuid.UUID, list[Touchpoint]] = {customer_id: [] for customer_id in customer_ids}
    if not found:
        return found
    requested = (
        func.unnest(literal(list(found), ARRAY(Uuid())))
        .table_valued("customer_id")
        .render_derived(name="requested")
    )
    page = (
        select(Touchpoint)
        .where(
            col(Touchpoint.customer_id) == requested.c.customer_id,
            *_filters(channels=channels, types=types, since=since, until=until),
        )
        .order_by(col(Touchpoint.occurred_at).desc(), col(Touchpoint.id).desc())
        .limit(limit)
        .lateral("page")
    )
    touchpoint = aliased(Touchpoint, page)
    statement = (
        select(touchpoint)
        .select_from(requested)
        .join(page, true())
        .order_by(page.c.customer_id, page.c.occurred_at.desc(), page.c.id.desc())
    )
    for row in (await session.execute(statement)).scalars():
        found[row.customer_id].append(row)
    return found


def _filters(
    *,
    channels: list[str] | None,
    types: list[str] | None,
    since: datetime | None,
    until: datetime | None,
) -> list[ColumnElement[bool]]:
    """The timeline filters, shared by the single page and the batch of first pages."""
    conditions: list[ColumnElement[bool]] = []
    if channels:
        conditions.append(col(Touchpoint.channel).in_(channels))
    if types:
        conditions.append(col(Touchpoint.type).in_(types))
    if since:
        conditions.append(col(Touchpoint.occurred_at) >= since)
    if until:
        conditions.append(col(Touchpoint.occurred_at) < until)
    return conditions


async def insert_touchpoints(session: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert touchpoints, skipping any whose (source, external_id) is already recorded; returns the new."""
    if not rows:
        return []
    table = table_of(Touchpoint)
    inserted = await session.execute(
        pg_insert(table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[table.c.source, table.c.external_id])
        .returning(table.c.id)
    )
    new_ids = set(inserted.scalars())
    return [row for row in rows if row["id"] in new_ids]

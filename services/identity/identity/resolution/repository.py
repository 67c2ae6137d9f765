"""SQL of the resolution engine: each function is one statement for a whole batch."""

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, Text, Uuid, func, insert, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import any_of, table_of
from identity.identifiers.models import Identifier
from identity.timeline.models import Touchpoint

IdentifierKey = tuple[str, str]


async def lock_identifiers(session: AsyncSession, keys: Sequence[int]) -> None:
    """Transaction-scoped advisory locks, taken in the (sorted) order given."""
    if keys:
        await session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) "
                "FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
            ),
            {"keys": list(keys)},
        )


async def find_identifiers(
    session: AsyncSession, keys: Sequence[IdentifierKey]
) -> dict[IdentifierKey, tuple[int, uuid.UUID]]:
    if not keys:
        return {}
    table = table_of(Identifier)
    wanted = select(
        func.unnest(literal([k[0] for k in keys], ARRAY(Text))).label("type"),
        func.unnest(literal([k[1] for k in keys], ARRAY(Text))).label("value"),
    ).subquery()
    rows = await session.execute(
        select(table.c.type, table.c.value, table.c.id, table.c.customer_id).join(
            wanted, (table.c.type == wanted.c.type) & (table.c.value == wanted.c.value)
        )
    )
    return {(row.type, row.value): (row.id, row.customer_id) for row in rows}


async def identifier_counts(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Counter[str]]:
    table = table_of(Identifier)
    rows = await session.execute(
        select(table.c.customer_id, table.c.type, func.count())
        .where(any_of(table.c.customer_id, customer_ids, Uuid()))
        .group_by(table.c.customer_id, table.c.type)
    )
    counts: dict[uuid.UUID, Counter[str]] = {}
    for customer_id, identifier_type, count in rows:
        counts.setdefault(customer_id, Counter())[identifier_type] = int(count)
    return counts


async def insert_identifiers(session: AsyncSession, rows: list[dict[str, Any]]) -> dict[IdentifierKey, int]:
    table = table_of(Identifier)
    result = await session.execute(
        insert(table).returning(table.c.type, table.c.value, table.c.id, sort_by_parameter_order=True), rows
    )
    return {(row.type, row.value): row.id for row in result}


async def touch_identifiers(session: AsyncSession, identifier_ids: Sequence[int], seen_at: datetime) -> None:
    if identifier_ids:
        table = table_of(Identifier)
        await session.execute(
            update(table)
            .where(any_of(table.c.id, identifier_ids, BigInteger()), table.c.last_seen_at < seen_at)
            .values(last_seen_at=seen_at)
        )


async def insert_touchpoints(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert touchpoints; one a source already sent (same external id) is skipped. Returns those written."""
    table = table_of(Touchpoint)
    result = await session.execute(
        pg_insert(table)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(table.c.id),
        rows,
    )
    return {row[0] for row in result}


async def touchpoint_ids_by_external_id(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    table = table_of(Touchpoint)
    rows = await session.execute(
        select(table.c.source, table.c.external_id, table.c.id).where(
            tuple_(table.c.source, table.c.external_id).in_(keys)
        )
    )
    return {(row.source, row.external_id): row.id for row in rows}

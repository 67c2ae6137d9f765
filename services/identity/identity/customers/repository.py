"""SQL for customers, their trait values, cached profile and blocking keys."""

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Text, Uuid, delete, func, insert, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.db import any_of, table_of
from identity.customers.models import Customer, CustomerStatus, MatchKey, TraitValue
from identity.customers.profile import TraitObservation
from identity.identifiers.models import Identifier


async def get(session: AsyncSession, customer_id: uuid.UUID) -> Customer | None:
    return await session.get(Customer, customer_id)


async def get_many(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
    if not customer_ids:
        return []
    result = await session.execute(select(Customer).where(any_of(col(Customer.id), customer_ids, Uuid())))
    return list(result.scalars())


async def survivors_of(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each id mapped to the customer it resolves to today (itself, or the end of its merge chain)."""
    if not customer_ids:
        return {}
    chain = (
        select(col(Customer.id).label("start_id"), col(Customer.id), col(Customer.merged_into_id))
        .where(any_of(col(Customer.id), customer_ids, Uuid()))
        .cte("chain", recursive=True)
    )
    step = select(chain.c.start_id, col(Customer.id), col(Customer.merged_into_id)).join(
        Customer, col(Customer.id) == chain.c.merged_into_id
    )
    chain = chain.union_all(step)
    rows = await session.execute(select(chain.c.start_id, chain.c.id).where(chain.c.merged_into_id.is_(None)))
    return {row[0]: row[1] for row in rows}


async def identifiers_of_many(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[Identifier]:
    """The identifiers of these customers, per customer in the order of ``identifiers.of_customer``."""
    if not customer_ids:
        return []
    statement = (
        select(Identifier)
        .where(any_of(col(Identifier.customer_id), customer_ids, Uuid()))
        .order_by(col(Identifier.customer_id), col(Identifier.type), col(Identifier.value))
    )
    return list((await session.execute(statement)).scalars())


async def insert_customers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(table_of(Customer)), rows)


async def traits_of(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> list[TraitObservation]:
    if not customer_ids:
        return []
    table = table_of(TraitValue)
    rows = await session.execute(select(table).where(any_of(table.c.customer_id, customer_ids, Uuid())))
    return [
        TraitObservation(
            id=row.id,
            customer_id=row.customer_id,
            field=row.field,
            value=row.value,
            source=row.source,
            first_observed_at=row.first_observed_at,
            last_observed_at=row.last_observed_at,
            observations=row.observations,
        )
        for row in rows
    ]


async def insert_traits(session: AsyncSession, observations: Iterable[TraitObservation]) -> None:
    rows = [
        {
            "customer_id": o.customer_id,
            "field": o.field,
            "value": o.value,
            "source": o.source,
            "first_observed_at": o.first_observed_at,
            "last_observed_at": o.last_observed_at,
            "observations": o.observations,
        }
        for o in observations
    ]
    if rows:
        await session.execute(insert(table_of(TraitValue)), rows)


async def bump_traits(session: AsyncSession, observations: Iterable[TraitObservation]) -> None:
    table = table_of(TraitValue)
    rows = [{"trait_id": o.id, "seen": o.last_observed_at, "count": o.observations} for o in observations]
    if rows:
        from sqlalchemy import bindparam

        await session.execute(
            update(table)
            .where(table.c.id == bindparam("trait_id"))
            .values(last_observed_at=bindparam("seen"), observations=bindparam("count")),
            rows,
            execution_options={"synchronize_session": False},
        )


async def primary_identifiers(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    """The most recently seen email and phone of each customer (used for matching and events)."""
    table = table_of(Identifier)
    rows = await session.execute(
        select(table.c.customer_id, table.c.type, table.c.value)
        .ext(distinct_on(table.c.customer_id, table.c.type))
        .where(any_of(table.c.customer_id, customer_ids, Uuid()), table.c.type.in_(["email", "phone"]))
        .order_by(table.c.customer_id, table.c.type, table.c.last_seen_at.desc())
    )
    found: dict[uuid.UUID, dict[str, str]] = {}
    for customer_id, kind, value in rows:
        found.setdefault(customer_id, {})[kind] = value
    return found


async def update_profiles(session: AsyncSession, profiles: list[dict[str, Any]]) -> None:
    """Write cached golden values: dicts with customer_id, display_name, name_key, match_profile."""
    if not profiles:
        return
    from sqlalchemy import bindparam

    table = table_of(Customer)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("customer_id"))
        .values(
            display_name=bindparam("display_name"),
            name_key=bindparam("name_key"),
            match_profile=bindparam("match_profile"),
            updated_at=func.now(),
        ),
        profiles,
        execution_options={"synchronize_session": False},
    )


async def replace_match_keys(session: AsyncSession, keys: dict[uuid.UUID, set[str]]) -> None:
    if not keys:
        return
    table = table_of(MatchKey)
    await session.execute(delete(table).where(any_of(table.c.customer_id, list(keys), Uuid())))
    rows = [
        {"key": key, "customer_id": customer_id} for customer_id, values in keys.items() for key in values
    ]
    if rows:
        await session.execute(insert(table), rows)


async def candidates_by_keys(session: AsyncSession, keys: Sequence[str]) -> dict[str, list[uuid.UUID]]:
    if not keys:
        return {}
    table = table_of(MatchKey)
    rows = await session.execute(
        select(table.c.key, table.c.customer_id).where(any_of(table.c.key, keys, Text()))
    )
    found: dict[str, list[uuid.UUID]] = {}
    for key, customer_id in rows:
        found.setdefault(key, []).append(customer_id)
    return found


async def match_profiles(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    if not customer_ids:
        return {}
    table = table_of(Customer)
    rows = await session.execute(
        select(table.c.id, table.c.match_profile).where(
            any_of(table.c.id, customer_ids, Uuid()),
            table.c.status == CustomerStatus.ACTIVE,
            table.c.match_profile.is_not(None),
        )
    )
    return {row[0]: row[1] for row in rows}


async def search(
    session: AsyncSession, *, prefix: str, name_prefix: str, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[Customer]:
    """Active customers whose name key, email or phone starts with the prefix; ordered by (name_key, id)."""
    identifier = table_of(Identifier)
    by_identifier = select(identifier.c.customer_id).where(
        identifier.c.type.in_(["email", "phone"]),
        identifier.c.value.like(_escape_like(prefix) + "%", escape="\\"),
    )
    statement = select(Customer).where(
        col(Customer.status) == CustomerStatus.ACTIVE,
        or_(
            col(Customer.name_key).like(_escape_like(name_prefix) + "%", escape="\\"),
            col(Customer.id).in_(by_identifier),
        ),
    )
    sort_key = func.coalesce(col(Customer.name_key), literal_column("''"))
    if after is not None:
        statement = statement.where(func.row(sort_key, col(Customer.id)) > func.row(after[0], after[1]))
    statement = statement.order_by(sort_key, col(Customer.id)).limit(limit)
    return list((await session.execute(statement)).scalars())


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

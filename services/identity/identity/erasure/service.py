"""Erasure: personal data goes, a salted hash of each identifier stays so replays cannot revive the person."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import table_of
from identity.consents.models import ConsentChange
from identity.customers.errors import CustomerNotFound
from identity.customers.models import Customer, CustomerStatus, MatchKey, TraitValue
from identity.erasure.models import ErasureTombstone
from identity.events import publisher
from identity.identifiers.models import Identifier
from identity.merges.models import Merge, MergeConflict
from identity.settings import IdentitySettings
from identity.suggestions.models import MatchSuggestion
from identity.timeline.models import Touchpoint


def identifier_hash(identifier_type: str, value: str, settings: IdentitySettings) -> str:
    return hashlib.sha256(f"{settings.erasure_salt}\x1f{identifier_type}\x1f{value}".encode()).hexdigest()


async def tombstoned(
    session: AsyncSession, keys: Sequence[tuple[str, str]], settings: IdentitySettings
) -> set[tuple[str, str]]:
    """Which of these normalized identifiers belong to an erased person."""
    if not keys:
        return set()
    by_hash = {identifier_hash(t, v, settings): (t, v) for t, v in keys}
    table = table_of(ErasureTombstone)
    rows = await session.execute(
        select(table.c.identifier_hash).where(table.c.identifier_hash.in_(list(by_hash)))
    )
    return {by_hash[row[0]] for row in rows}


async def erase(session: AsyncSession, customer_id: uuid.UUID, settings: IdentitySettings) -> list[uuid.UUID]:
    """Erase a customer and every customer merged into it; returns the ids erased."""
    from identity.customers import repository as customers_repository

    survivor = (await customers_repository.survivors_of(session, [customer_id])).get(customer_id)
    root = await customers_repository.get(session, survivor) if survivor else None
    if root is None or root.status == CustomerStatus.ERASED:
        raise CustomerNotFound(f"No customer with id {customer_id}.")
    ids = await _with_merged(session, root.id)
    identifiers = table_of(Identifier)
    rows = (
        await session.execute(
            select(identifiers.c.type, identifiers.c.value).where(identifiers.c.customer_id.in_(ids))
        )
    ).all()
    if rows:
        await session.execute(
            pg_insert(table_of(ErasureTombstone)).on_conflict_do_nothing(),
            [{"identifier_hash": identifier_hash(t, v, settings), "customer_id": root.id} for t, v in rows],
        )
    for table in (
        table_of(Identifier),
        table_of(TraitValue),
        table_of(Touchpoint),
        table_of(ConsentChange),
        table_of(MatchKey),
    ):
        await session.execute(delete(table).where(table.c.customer_id.in_(ids)))
    suggestions = table_of(MatchSuggestion)
    await session.execute(
        delete(suggestions).where(suggestions.c.customer_id.in_(ids) | suggestions.c.candidate_id.in_(ids))
    )
    # Merge and conflict evidence names identifiers: keep the facts (who, when, rule), drop the values.
    merges = table_of(Merge)
    await session.execute(
        update(merges)
        .where(merges.c.survivor_id.in_(ids) | merges.c.merged_id.in_(ids))
        .values(evidence={"erased": True})
    )
    conflicts = table_of(MergeConflict)
    await session.execute(
        update(conflicts)
        .where(conflicts.c.customer_id.in_(ids) | conflicts.c.other_customer_id.in_(ids))
        .values(evidence={"erased": True})
    )
    customers = table_of(Customer)
    await session.execute(
        update(customers)
        .where(customers.c.id.in_(ids))
        .values(
            status=CustomerStatus.ERASED,
            display_name=None,
            name_key=None,
            match_profile=None,
            erased_at=datetime.now(UTC),
            updated_at=datetime.now(UTC),
        )
    )
    await publisher.customer_erased(session, root.id, [i for i in ids if i != root.id])
    return ids


async def _with_merged(session: AsyncSession, root_id: uuid.UUID) -> list[uuid.UUID]:
    """The customer and everything merged into it, transitively."""
    customers = table_of(Customer)
    tree = select(customers.c.id).where(customers.c.id == root_id).cte("tree", recursive=True)
    tree = tree.union_all(select(customers.c.id).where(customers.c.merged_into_id == tree.c.id))
    return [row[0] for row in await session.execute(select(tree.c.id))]

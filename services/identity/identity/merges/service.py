"""Merges carry their evidence and can be undone exactly, even after later activity."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.customers import repository as customers_repository
from identity.customers import service as customers
from identity.customers.errors import CustomerNotFound
from identity.customers.models import CustomerStatus
from identity.events import publisher
from identity.merges import repository
from identity.merges.errors import (
    ConflictAlreadyResolved,
    ConflictNotFound,
    MergeAlreadyUndone,
    MergeNotAllowed,
    MergeNotFound,
)
from identity.merges.models import Merge, MergeConflict
from identity.settings import IdentitySettings


async def active_merge_counts(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    return await repository.active_merge_counts(session, customer_ids)


async def never_merge_pairs(
    session: AsyncSession, customer_ids: Sequence[uuid.UUID]
) -> set[frozenset[uuid.UUID]]:
    return await repository.never_merge_pairs(session, customer_ids)


async def merge_customers(
    session: AsyncSession,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    *,
    rule: str,
    evidence: dict[str, Any],
    actor: str,
) -> Merge:
    """Move everything of ``merged_id`` to ``survivor_id``, recording what moved (no profile refresh)."""
    merge = await repository.add_merge(
        session,
        Merge(survivor_id=survivor_id, merged_id=merged_id, rule=rule, evidence=evidence, actor=actor),
    )
    moved = await repository.move_rows(session, merge.id, merged_id, survivor_id)
    merge.evidence = {**evidence, "moved": moved}
    merged = await customers_repository.get(session, merged_id)
    assert merged is not None
    merged.status = CustomerStatus.MERGED
    merged.merged_into_id = survivor_id
    merged.match_profile = None
    merged.updated_at = datetime.now(UTC)
    await customers_repository.replace_match_keys(session, {merged_id: set()})
    await session.flush()
    await publisher.customer_merged(session, merge)
    return merge


async def file_conflict(
    session: AsyncSession,
    customer_id: uuid.UUID,
    other_id: uuid.UUID,
    *,
    reason: str,
    evidence: dict[str, Any],
) -> uuid.UUID:
    return await repository.add_conflict(
        session,
        MergeConflict(customer_id=customer_id, other_customer_id=other_id, reason=reason, evidence=evidence),
    )


async def merge_manually(
    session: AsyncSession,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
    *,
    actor: str,
    reason: str | None,
    settings: IdentitySettings,
) -> Merge:
    """A person merges two customers. Never-merge pairs and erased or merged-away customers refuse."""
    if survivor_id == merged_id:
        raise MergeNotAllowed("A customer cannot be merged into itself.")
    locked = {c.id: c for c in await repository.lock_customers(session, [survivor_id, merged_id])}
    for customer_id in (survivor_id, merged_id):
        customer = locked.get(customer_id)
        if customer is None or customer.status == CustomerStatus.ERASED:
            raise CustomerNotFound(f"No customer with id {customer_id}.")
        if customer.status == CustomerStatus.MERGED:
            raise MergeNotAllowed(
                f"Customer {customer_id} was merged into {customer.merged_into_id}; merge that one instead."
            )
    if frozenset((survivor_id, merged_id)) in await repository.never_merge_pairs(session, [survivor_id]):
        raise MergeNotAllowed("These customers are marked never-merge.")
    merge = await merge_customers(
        session, survivor_id, merged_id, rule="manual", evidence={"reason": reason}, actor=actor
    )
    await customers.refresh_profiles(session, [survivor_id], settings)
    return merge


async def undo_merge(
    session: AsyncSession, merge_id: uuid.UUID, *, actor: str, settings: IdentitySettings
) -> Merge:
    """Restore exactly what the merge moved (identifiers, traits, touchpoints, consents) to the merged
    customer, wherever later merges took them, and mark the pair never-merge so automation does not
    merge them again."""
    merge = await repository.get_merge(session, merge_id, for_update=True)
    if merge is None:
        raise MergeNotFound(f"No merge with id {merge_id}.")
    if merge.undone_at is not None:
        raise MergeAlreadyUndone(f"Merge {merge_id} was undone at {merge.undone_at.isoformat()}.")
    restored = await customers_repository.get(session, merge.merged_id)
    if restored is None or restored.status == CustomerStatus.ERASED:
        raise MergeNotAllowed("The merged customer has been erased; there is nothing to restore.")
    previous_owners = await repository.move_back(session, merge.id, merge.merged_id)
    restored.status = CustomerStatus.ACTIVE
    restored.merged_into_id = None
    restored.updated_at = datetime.now(UTC)
    merge.undone_at = datetime.now(UTC)
    merge.undone_by = actor
    await repository.add_never_merge(
        session, merge.survivor_id, merge.merged_id, actor=actor, reason=f"merge {merge.id} undone"
    )
    await session.flush()
    await customers.refresh_profiles(
        session, [merge.merged_id, merge.survivor_id, *previous_owners], settings
    )
    await publisher.customer_unmerged(session, merge)
    return merge


async def mark_never_merge(
    session: AsyncSession, first: uuid.UUID, second: uuid.UUID, *, actor: str, reason: str | None
) -> None:
    if first == second:
        raise MergeNotAllowed("A customer is always the same as itself.")
    found = await customers_repository.get_many(session, [first, second])
    if len(found) != 2:
        raise CustomerNotFound("Both customers must exist.")
    await repository.add_never_merge(session, first, second, actor=actor, reason=reason)


async def get_merge(session: AsyncSession, merge_id: uuid.UUID) -> Merge:
    merge = await repository.get_merge(session, merge_id)
    if merge is None:
        raise MergeNotFound(f"No merge with id {merge_id}.")
    return merge


async def history(session: AsyncSession, customer_id: uuid.UUID) -> list[Merge]:
    return await repository.merges_of(session, [customer_id])


async def histories(session: AsyncSession, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Merge]]:
    """``history`` of each id (merges it took part in as survivor or as merged, newest first), one
    query for the whole batch; an id that took part in none maps to an empty list."""
    found: dict[uuid.UUID, list[Merge]] = {customer_id: [] for customer_id in customer_ids}
    if not found:
        return found
    for merge in await repository.merges_of(session, list(found)):
        for customer_id in dict.fromkeys((merge.survivor_id, merge.merged_id)):
            if customer_id in found:
                found[customer_id].append(merge)
    return found


async def list_conflicts(
    session: AsyncSession, *, status: str | None, after: tuple[str, str] | None, limit: int
) -> list[MergeConflict]:
    return await repository.list_conflicts(session, status=status, after=after, limit=limit)


async def resolve_conflict(
    session: AsyncSession, conflict_id: uuid.UUID, *, merge: bool, actor: str, settings: IdentitySettings
) -> tuple[MergeConflict, Merge | None]:
    """A person decides: merge anyway (the guardrail is overridden, on the record) or keep apart."""
    conflict = await repository.get_conflict(session, conflict_id)
    if conflict is None:
        raise ConflictNotFound(f"No merge conflict with id {conflict_id}.")
    if conflict.status != "open":
        raise ConflictAlreadyResolved(f"Conflict {conflict_id} was already {conflict.resolution}.")
    done: Merge | None = None
    if merge:
        survivors = await customers_repository.survivors_of(
            session, [conflict.customer_id, conflict.other_customer_id]
        )
        survivor, other = survivors[conflict.customer_id], survivors[conflict.other_customer_id]
        if survivor != other:
            done = await merge_customers(
                session,
                survivor,
                other,
                rule="conflict_override",
                evidence={"conflict_id": str(conflict.id), "guardrail": conflict.reason, **conflict.evidence},
                actor=actor,
            )
            await customers.refresh_profiles(session, [survivor], settings)
    else:
        await repository.add_never_merge(
            session,
            conflict.customer_id,
            conflict.other_customer_id,
            actor=actor,
            reason=f"conflict {conflict.id}",
        )
    conflict.status = "resolved"
    conflict.resolution = "merged" if merge else "kept_apart"
    conflict.resolved_at = datetime.now(UTC)
    conflict.resolved_by = actor
    await session.flush()
    return conflict, done

"""Probable matches for a person to decide: accept merges them, reject keeps them apart for good."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Uuid, cast, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from crm_common.db import table_of
from crm_common.errors import Conflict, NotFound
from identity.customers import repository as customers_repository
from identity.merges import repository as merges_repository
from identity.merges import service as merges
from identity.merges.models import Merge
from identity.settings import IdentitySettings
from identity.suggestions.models import MatchSuggestion


class SuggestionNotFound(NotFound):
    type, title = "match-suggestion-not-found", "Match suggestion not found"


class SuggestionDecided(Conflict):
    type, title = "match-suggestion-decided", "Match suggestion already decided"


async def file_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """File suggestions (id, customer_id, candidate_id, probability, evidence, status); a pair already
    suggested keeps its first suggestion."""
    if rows:
        await session.execute(pg_insert(table_of(MatchSuggestion)).on_conflict_do_nothing(), rows)


async def list_pending(
    session: AsyncSession, *, status: str, after: tuple[str, str] | None, limit: int
) -> list[MatchSuggestion]:
    statement = select(MatchSuggestion).where(col(MatchSuggestion.status) == status)
    if after is not None:
        statement = statement.where(
            func.row(col(MatchSuggestion.probability), col(MatchSuggestion.id))
            < func.row(cast(after[0], Float), cast(after[1], Uuid))
        )
    statement = statement.order_by(
        col(MatchSuggestion.probability).desc(), col(MatchSuggestion.id).desc()
    ).limit(limit)
    return list((await session.execute(statement)).scalars())


async def decide(
    session: AsyncSession, suggestion_id: uuid.UUID, *, accept: bool, actor: str, settings: IdentitySettings
) -> tuple[MatchSuggestion, Merge | None]:
    suggestion = await session.get(MatchSuggestion, suggestion_id, with_for_update=True)
    if suggestion is None:
        raise SuggestionNotFound(f"No match suggestion with id {suggestion_id}.")
    if suggestion.status != "pending":
        raise SuggestionDecided(f"Suggestion {suggestion_id} was already {suggestion.status}.")
    merge: Merge | None = None
    if accept:
        survivors = await customers_repository.survivors_of(
            session, [suggestion.candidate_id, suggestion.customer_id]
        )
        survivor, other = survivors[suggestion.candidate_id], survivors[suggestion.customer_id]
        if survivor != other:
            merge = await merges.merge_manually(
                session,
                survivor,
                other,
                actor=actor,
                reason=f"match suggestion {suggestion.id}",
                settings=settings,
            )
            suggestion.merge_id = merge.id
    else:
        await merges_repository.add_never_merge(
            session,
            suggestion.customer_id,
            suggestion.candidate_id,
            actor=actor,
            reason=f"suggestion {suggestion.id}",
        )
    suggestion.status = "accepted" if accept else "rejected"
    suggestion.decided_at = datetime.now(UTC)
    suggestion.decided_by = actor
    await session.flush()
    return suggestion, merge

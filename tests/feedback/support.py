"""Feedback test helpers: identity's customer events as identity publishes them, ideas, votes and
follows written straight to the database (so tests of merges do not depend on the ideas API), and the
truth read back from the rows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import session_factory
from crm_common.events import EventEnvelope
from crm_common.events.consumer import ConsumerRunner
from feedback.customers import repository
from feedback.customers.models import CustomerRef
from feedback.database import metadata
from feedback.ideas import service as ideas
from feedback.ideas.models import Idea
from feedback.ideas.ranking import activity_key


def customer_created(
    customer_id: uuid.UUID | None = None, *, display_name: str = "Choi Yuna", **extra: Any
) -> EventEnvelope:
    """The envelope identity's publisher writes for a new customer (schema version 1)."""
    customer_id = customer_id or uuid.uuid4()
    return EventEnvelope(
        type="customer.created",
        producer="identity",
        subject_id=str(customer_id),
        payload={
            "customer_id": str(customer_id),
            "display_name": display_name,
            "email": "yuna@example.com",
            "created_at": datetime(2026, 11, 23, 9, 30, tzinfo=UTC).isoformat(),
            **extra,
        },
    )


async def deliver(runner: ConsumerRunner, envelope: EventEnvelope, deliveries: int = 1) -> bool:
    """Hand the envelope to the consumer as JetStream would; True when it may be acknowledged."""
    return await runner.handle(envelope.subject, envelope.model_dump_json().encode(), deliveries)


async def count_rows(engine: AsyncEngine, table_name: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(metadata.tables[table_name])
        return int((await conn.execute(query)).scalar_one())


async def row_version(engine: AsyncEngine, customer_id: uuid.UUID) -> str:
    """The customer_ref row's ``xmin``: it changes whenever anything writes the row."""
    async with engine.connect() as conn:
        query = text("SELECT xmin::text FROM customer_ref WHERE customer_id = :id")
        return str((await conn.execute(query, {"id": customer_id})).scalar_one())


async def stored_customer(engine: AsyncEngine, customer_id: uuid.UUID) -> CustomerRef | None:
    async with session_factory(engine)() as session:
        return await repository.get(session, customer_id)


async def mark_erased(engine: AsyncEngine, customer_id: uuid.UUID) -> None:
    """Erase the customer's personal data as the (future) erasure flow will: name blanked, time set."""
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE customer_ref SET display_name = '', erased_at = now() WHERE customer_id = :id"),
            {"id": customer_id},
        )


def customer_merged(
    survivor_id: uuid.UUID, merged_id: uuid.UUID, merge_id: uuid.UUID | None = None
) -> EventEnvelope:
    """The envelope identity's publisher writes when ``merged_id`` is merged into ``survivor_id``."""
    return EventEnvelope(
        type="customer.merged",
        producer="identity",
        subject_id=str(survivor_id),
        payload={
            "merge_id": str(merge_id or uuid.uuid4()),
            "customer_id": str(survivor_id),
            "survivor_id": str(survivor_id),
            "merged_id": str(merged_id),
            "rule": "manual",
        },
    )


def customer_unmerged(
    merge_id: uuid.UUID | str, survivor_id: uuid.UUID, restored_id: uuid.UUID
) -> EventEnvelope:
    """The envelope identity's publisher writes when a merge is undone."""
    return EventEnvelope(
        type="customer.unmerged",
        producer="identity",
        subject_id=str(restored_id),
        payload={
            "merge_id": str(merge_id),
            "customer_id": str(restored_id),
            "survivor_id": str(survivor_id),
            "restored_id": str(restored_id),
        },
    )


def customer_erased(customer_id: uuid.UUID, merged_ids: list[uuid.UUID] | None = None) -> EventEnvelope:
    """The envelope identity's publisher writes when a customer (and those merged into it) is erased."""
    return EventEnvelope(
        type="customer.erased",
        producer="identity",
        subject_id=str(customer_id),
        payload={"customer_id": str(customer_id), "merged_ids": [str(i) for i in merged_ids or []]},
    )


# --- ideas, votes and follows written straight to the tables ---------------------------------------

Vote = tuple[uuid.UUID, int, datetime]


async def seed_idea(
    engine: AsyncEngine,
    *,
    author_id: uuid.UUID | None = None,
    status: str = "new",
    moderation_state: str = "published",
) -> uuid.UUID:
    """An idea row as the ideas domain writes it, on a board of its own."""
    board_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with session_factory(engine)() as session:
        await session.execute(
            text("INSERT INTO board (id, slug, name) VALUES (:id, :slug, :slug)"),
            {"id": board_id, "slug": f"b-{board_id.hex[:12]}"},
        )
        idea = Idea(
            board_id=board_id,
            author_id=author_id or uuid.uuid4(),
            title=f"Idea {uuid.uuid4().hex[:8]}",
            body="It would help a lot.",
            status=status,
            moderation_state=moderation_state,
            text_hash=uuid.uuid4().hex,
            trending_score=activity_key(now, 48.0),
            created_at=now,
            status_changed_at=now,
        )
        session.add(idea)
        await session.commit()
        return idea.id


async def seed_votes(engine: AsyncEngine, idea_id: uuid.UUID, votes: Mapping[uuid.UUID, int]) -> None:
    """Votes (customer -> +1/-1), each cast at its own moment in the past; tallies recounted."""
    base = datetime.now(UTC) - timedelta(days=1)
    async with session_factory(engine).begin() as session:
        for n, (customer_id, direction) in enumerate(votes.items()):
            await session.execute(
                text("INSERT INTO vote (idea_id, customer_id, direction, cast_at) VALUES (:i, :c, :d, :t)"),
                {
                    "i": idea_id,
                    "c": customer_id,
                    "d": direction,
                    "t": base + timedelta(seconds=n, microseconds=n),
                },
            )
        await ideas.recount(session, [idea_id])


async def seed_follows(engine: AsyncEngine, idea_id: uuid.UUID, customer_ids: list[uuid.UUID]) -> None:
    async with engine.begin() as conn:
        for customer_id in customer_ids:
            await conn.execute(
                text("INSERT INTO idea_follower (idea_id, customer_id) VALUES (:i, :c)"),
                {"i": idea_id, "c": customer_id},
            )


async def votes_on(engine: AsyncEngine, idea_id: uuid.UUID | str) -> set[Vote]:
    """The idea's votes as (customer, direction, cast_at)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT customer_id, direction, cast_at FROM vote WHERE idea_id = :i"), {"i": str(idea_id)}
        )
        return {(row[0], int(row[1]), row[2]) for row in rows}


async def followers_of(engine: AsyncEngine, idea_id: uuid.UUID | str) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT customer_id FROM idea_follower WHERE idea_id = :i"), {"i": str(idea_id)}
        )
        return {row[0] for row in rows}


async def stored_idea(engine: AsyncEngine, idea_id: uuid.UUID | str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(text("SELECT * FROM idea WHERE id = :i"), {"i": str(idea_id)})).one()


async def tallies(engine: AsyncEngine, idea_id: uuid.UUID | str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((up_count, down_count) stored on the idea, (up, down) counted from the vote rows)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    "SELECT i.up_count, i.down_count,"
                    " (SELECT count(*) FROM vote v WHERE v.idea_id = i.id AND v.direction = 1),"
                    " (SELECT count(*) FROM vote v WHERE v.idea_id = i.id AND v.direction = -1)"
                    " FROM idea i WHERE i.id = :i"
                ),
                {"i": str(idea_id)},
            )
        ).one()
    return (int(row[0]), int(row[1])), (int(row[2]), int(row[3]))


async def outbox_events(engine: AsyncEngine, event_type: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT envelope FROM outbox_event WHERE envelope->>'type' = :t ORDER BY position"),
            {"t": event_type},
        )
        return [dict(row[0]) for row in rows]

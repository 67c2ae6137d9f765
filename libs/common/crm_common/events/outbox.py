"""Transactional outbox and inbox tables, attached to each service's own metadata.

An event is written with :func:`record_event` in the same transaction as the change it describes;
the relay publishes it later. Consumers record each handled event id in the inbox in the same
transaction as its effects, so a redelivered event changes nothing.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.envelope import EventEnvelope
from crm_common.logging import current_request_id

OUTBOX_NOTIFY_CHANNEL = "crm_outbox"


def add_event_tables(metadata: MetaData) -> tuple[Table, Table, Table]:
    """Define ``outbox_event``, ``inbox_event`` and ``dead_letter_event`` on a service's metadata."""
    outbox = Table(
        "outbox_event",
        metadata,
        Column("position", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("envelope", JSONB, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Index("ix_outbox_event_unpublished", "position", postgresql_where=text("published_at IS NULL")),
    )
    inbox = Table(
        "inbox_event",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", UUID(as_uuid=True), primary_key=True),
        Column("subject", String(200), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    dead_letter = Table(
        "dead_letter_event",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("consumer", String(100), nullable=False),
        Column("event_id", UUID(as_uuid=True), nullable=True),
        Column("subject", String(200), nullable=False),
        Column("body", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("deliveries", Integer, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    return outbox, inbox, dead_letter


def outbox_table(metadata: MetaData) -> Table:
    return metadata.tables["outbox_event"]


# From this many events on, one INSERT ... SELECT FROM unnest(arrays) writes them all: an executemany of
# hundreds of rows was a third of a delivery batch's cost (bench/campaign_caps.py).
BULK_INSERT_THRESHOLD = 50


async def _insert_unnested(session: AsyncSession, outbox: Table, envelopes: list[EventEnvelope]) -> None:
    rows = select(
        func.unnest(literal([e.id for e in envelopes], ARRAY(UUID(as_uuid=True)))),
        func.unnest(literal([e.subject for e in envelopes], ARRAY(String))),
        func.unnest(literal([e.model_dump_json() for e in envelopes], ARRAY(Text))),
    ).subquery("event")
    columns = list(rows.c)
    await session.execute(
        insert(outbox).from_select(
            ["event_id", "subject", "envelope"],
            select(columns[0], columns[1], cast(columns[2], JSONB)),
        )
    )


async def record_events(
    session: AsyncSession,
    metadata: MetaData,
    *,
    producer: str,
    events: list[tuple[str, str | None, dict[str, Any]]],
) -> list[EventEnvelope]:
    """Write many events (type, subject id, payload) in one statement, inside the caller's transaction."""
    envelopes = [
        EventEnvelope(
            type=event_type,
            producer=producer,
            subject_id=subject_id,
            correlation_id=current_request_id(),
            payload=payload,
        )
        for event_type, subject_id, payload in events
    ]
    if len(envelopes) >= BULK_INSERT_THRESHOLD:
        await _insert_unnested(session, outbox_table(metadata), envelopes)
        await _notify_relay(session)
    elif envelopes:
        await session.execute(
            insert(outbox_table(metadata)),
            [
                {"event_id": e.id, "subject": e.subject, "envelope": e.model_dump(mode="json")}
                for e in envelopes
            ],
        )
        await _notify_relay(session)
    return envelopes


async def record_event(
    session: AsyncSession,
    metadata: MetaData,
    *,
    producer: str,
    event_type: str,
    payload: dict[str, Any],
    subject_id: str | None = None,
) -> EventEnvelope:
    """Write an event to the outbox inside the caller's transaction (published after commit)."""
    (envelope,) = await record_events(
        session, metadata, producer=producer, events=[(event_type, subject_id, payload)]
    )
    return envelope


async def _notify_relay(session: AsyncSession) -> None:
    # Wakes the relay at commit time instead of at its next poll. NOTIFY is transactional and
    # PostgreSQL folds repeats, so one per transaction is enough.
    transaction = session.get_transaction()
    notified = session.info.get("crm_outbox_notified")
    if transaction is None or notified is None or notified() is not transaction:
        await session.execute(text(f"NOTIFY {OUTBOX_NOTIFY_CHANNEL}"))
        if transaction is not None:
            session.info["crm_outbox_notified"] = weakref.ref(transaction)

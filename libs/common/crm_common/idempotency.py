"""``Idempotency-Key`` for POST requests: a retried request creates nothing twice and gets the first answer.

The record is written in the request's own transaction, so a request that fails leaves no record and
may be retried; a second request with the same key waits on the unique key until the first commits,
then replays its stored answer. The same key with a different request is a 409.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB


def add_idempotency_table(metadata: MetaData) -> Table:
    """Define ``idempotency_record`` on a service's metadata (one row per caller and key)."""
    return Table(
        "idempotency_record",
        metadata,
        Column("caller", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", LargeBinary, nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Index("ix_idempotency_record_created_at", "created_at"),
    )

"""Per-caller rate limits kept in PostgreSQL (GCRA: one row per caller and action, exact under concurrency)."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, MetaData, String, Table


def add_rate_limit_table(metadata: MetaData) -> Table:
    """Define ``rate_limit_state`` on a service's metadata: the theoretical arrival time per caller/action."""
    return Table(
        "rate_limit_state",
        metadata,
        Column("caller", String(200), primary_key=True),
        Column("action", String(100), primary_key=True),
        Column("theoretical_arrival_at", DateTime(timezone=True), nullable=False),
    )

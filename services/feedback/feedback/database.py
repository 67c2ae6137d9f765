"""The feedback service's own metadata: its tables, outbox, inbox, idempotency records and rate limits."""

from datetime import UTC, datetime

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from crm_common.db import new_metadata
from crm_common.events import add_event_tables
from crm_common.idempotency import add_idempotency_table
from crm_common.ratelimit import add_rate_limit_table

metadata = new_metadata()
add_event_tables(metadata)
add_idempotency_table(metadata)
add_rate_limit_table(metadata)


# Declared here rather than with crm_common.db.model_base(): that returns ``type[SQLModel]``, and mypy
# then rejects ``table=True`` on every model that subclasses it.
class FeedbackModel(SQLModel, registry=registry(metadata=metadata)):
    pass


def utcnow() -> datetime:
    """Python-side default for timestamp columns (the database's now() stays the server default)."""
    return datetime.now(UTC)

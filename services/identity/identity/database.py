"""The identity service's own metadata: its tables, its outbox and inbox, nothing else."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from crm_common.db import new_metadata
from crm_common.events import add_event_tables

metadata = new_metadata()
add_event_tables(metadata)


class IdentityModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of every identity table."""

"""The feedback service's own metadata: its tables, its outbox and inbox, nothing else."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from crm_common.db import new_metadata
from crm_common.events import add_event_tables

metadata = new_metadata()
add_event_tables(metadata)


# Declared here rather than with crm_common.db.model_base(): that returns ``type[SQLModel]``, and mypy
# then rejects ``table=True`` on every model that subclasses it.
class FeedbackModel(SQLModel, registry=registry(metadata=metadata)):
    pass

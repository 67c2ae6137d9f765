"""The event envelope every service publishes and consumes (schema version 1).

Subjects are ``crm.<service>.<entity>.<verb>``; the envelope ``type`` is ``<entity>.<verb>``.
Consumers must ignore fields they do not know, so producers can add fields without a new version.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SUBJECT_ROOT = "crm"
STREAM_NAME = "CRM_EVENTS"
STREAM_SUBJECTS = [f"{SUBJECT_ROOT}.>"]


def subject_for(producer: str, event_type: str) -> str:
    """``crm.identity.customer.created`` for producer ``identity`` and type ``customer.created``."""
    return f"{SUBJECT_ROOT}.{producer}.{event_type}"


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    producer: str
    subject_id: str | None = Field(None, description="The id of the entity the event is about.")
    correlation_id: str | None = Field(None, description="The request id that caused the event.")
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def subject(self) -> str:
        return subject_for(self.producer, self.type)

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class TouchpointPublic(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    channel: str
    type: str
    occurred_at: datetime
    source: str
    external_id: str | None
    payload: dict[str, Any]


class TimelinePage(BaseModel):
    items: list[TouchpointPublic]
    next_cursor: str | None = None


class TimelineBatch(BaseModel):
    items: dict[str, TimelinePage] = Field(
        description="Requested id → the first page of the timeline of the customer it resolves to; "
        "continue with `GET /v1/customers/{id}/timeline?after=<next_cursor>`. Unknown ids are absent."
    )

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel


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

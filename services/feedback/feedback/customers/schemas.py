import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CustomerRefPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    display_name: str | None = None
    first_seen_at: datetime = Field(description="When the feedback service first learned of the customer.")
    erased_at: datetime | None = Field(description="When the customer's personal data was erased, if it was.")

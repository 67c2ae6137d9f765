import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class AudienceMemberPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    display_name: str | None = None
    email: str | None
    customer_created_at: datetime = Field(description="When identity created the customer.")
    projected_at: datetime = Field(description="When the campaign service first learned of the customer.")


class AudienceBatch(BaseModel):
    items: list[AudienceMemberPublic]
    missing: list[uuid.UUID] = Field(description="Requested ids that match no audience member.")

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from crm_common.validation import SingleLineText


class CustomerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: SingleLineText = Field(min_length=1, max_length=200)
    email: EmailStr | None = None


class CustomerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    email: str | None
    created_at: datetime
    updated_at: datetime


class CustomerBatch(BaseModel):
    items: list[CustomerPublic]
    missing: list[uuid.UUID] = Field(description="Requested ids that match no customer.")

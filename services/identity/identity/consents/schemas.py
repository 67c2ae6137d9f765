from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ConsentChannel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    PHONE = "phone"
    IN_APP = "in_app"
    MAIL = "mail"


class ConsentPurpose(StrEnum):
    MARKETING = "marketing"
    SERVICE = "service"
    RESEARCH = "research"
    PROFILING = "profiling"


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ConsentChannel
    purpose: ConsentPurpose
    granted: bool


class ConsentsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    consents: list[ConsentIn] = Field(min_length=1, max_length=50)


class ConsentPublic(BaseModel):
    channel: str
    purpose: str
    granted: bool
    source: str
    actor: str
    changed_at: datetime


class ConsentsBatch(BaseModel):
    items: dict[str, list[ConsentPublic]] = Field(
        description="Requested id → the current consents of the customer it resolves to "
        "(as `GET /v1/customers/{id}/consents`). Unknown ids are absent."
    )

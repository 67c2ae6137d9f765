from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from identity.settings import WEBHOOK_SOURCE_NAME
from identity.webhooks.models import DeliveryStatus

SOURCE_NAME_PATTERN = WEBHOOK_SOURCE_NAME.pattern
# Printable ASCII without '/', so that every id can be addressed in the staff endpoints' paths.
WEBHOOK_ID_PATTERN = r"^[\x21-\x2e\x30-\x7e]{1,200}$"


class WebhookAccepted(BaseModel):
    """The answer to a signed webhook: stored (or already stored), processed shortly by the worker."""

    source: str
    webhook_id: str
    duplicate: bool = Field(
        description="True when this webhook-id was received before; it is processed once."
    )
    status: DeliveryStatus = Field(description="The delivery's status now.")


class WebhookDeliverySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source: str
    webhook_id: str
    status: DeliveryStatus = Field(
        description="pending/failed: waiting for an attempt; processing: a worker holds it now; done; "
        "dead: out of attempts or unusable, see last_error."
    )
    attempts: int
    received_at: datetime
    next_attempt_at: datetime
    last_error: str | None
    processed_at: datetime | None


class WebhookDeliveryPublic(WebhookDeliverySummary):
    body: dict[str, Any] = Field(description="The payload as the partner sent it.")
    result: dict[str, Any] | None = Field(
        description="The identify result (customer_id, outcome, touchpoint_id...) once done."
    )


class DeadLetterPage(BaseModel):
    items: list[WebhookDeliverySummary]
    next_cursor: str | None = Field(
        None, description="Pass as `after` for the next page; null on the last page."
    )

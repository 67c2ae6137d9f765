"""The channels domain's errors."""

from __future__ import annotations

import uuid

from crm_common.errors import FieldError, NotFound, ValidationFailed


class TemplateRenderError(ValidationFailed):
    """A template could not be rendered for one customer (a missing variable, a sandbox refusal, output
    over the length cap). The delivery worker fails that one message; the rest of the batch goes on."""

    type, title = "template-render", "Template could not be rendered"

    def __init__(self, field: str, message: str, *, customer_id: uuid.UUID | None = None):
        super().__init__(
            f"{field}: {message}", errors=[FieldError(field=field, message=message, code="template_render")]
        )
        self.field = field
        self.message = message
        self.customer_id = customer_id


class InboxMessageNotFound(NotFound):
    type, title = "inbox-message-not-found", "Inbox message not found"


class UnknownChannelProvider(NotFound):
    type, title = "channel-provider-not-found", "Unknown channel provider"

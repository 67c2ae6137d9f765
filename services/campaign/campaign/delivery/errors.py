"""The delivery domain's errors."""

from crm_common.errors import NotFound


class MessageNotFound(NotFound):
    type, title = "message-not-found", "Message not found"


class SuppressionNotFound(NotFound):
    type, title = "suppression-not-found", "Suppression not found"

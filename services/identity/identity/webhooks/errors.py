from crm_common.errors import BadRequest, Conflict, NotFound


class MalformedWebhookBody(BadRequest):
    """A correctly signed body that is not JSON: nothing is stored."""

    type, title = "malformed-json", "Malformed JSON"


class DeliveryNotFound(NotFound):
    type, title = "webhook-delivery-not-found", "Webhook delivery not found"


class DeliveryNotDead(Conflict):
    type, title = "webhook-delivery-not-dead", "Webhook delivery is not dead-lettered"


class MappingError(Exception):
    """A payload its source's mapping cannot use; the message is the reason given in the dead-letter list.

    Not a ProblemError: it never reaches an HTTP answer (the partner got its 202 long before).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

from crm_common.errors import Conflict, NotFound


class AlertNotFound(NotFound):
    type, title = "alert-not-found", "Alert not found"


class AlertAlreadyAcknowledged(Conflict):
    type, title = "alert-already-acknowledged", "Alert already acknowledged"

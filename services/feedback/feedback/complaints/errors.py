from crm_common.errors import Conflict, NotFound


class ComplaintNotFound(NotFound):
    type, title = "complaint-not-found", "Complaint not found"


class ComplaintTransitionNotAllowed(Conflict):
    type, title = "complaint-transition-not-allowed", "Complaint status change not allowed"

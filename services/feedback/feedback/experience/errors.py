from crm_common.errors import NotFound


class FeedbackNotFound(NotFound):
    type, title = "feedback-not-found", "Feedback not found"

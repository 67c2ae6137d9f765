from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed


class IdeaNotFound(NotFound):
    type, title = "idea-not-found", "Idea not found"


class BoardNotFound(ValidationFailed):
    type, title = "board-not-found", "Unknown board"


class StatusChangeNotAllowed(Conflict):
    type, title = "status-change-not-allowed", "Status change not allowed by the workflow"


class EditWindowClosed(Forbidden):
    type, title = "edit-window-closed", "The edit window has closed"


class NotTheAuthor(Forbidden):
    type, title = "not-the-author", "Only the author may do this"

from crm_common.errors import Conflict, Forbidden, NotFound, ValidationFailed


class CommentNotFound(NotFound):
    type, title = "comment-not-found", "Comment not found"


class InvalidParent(ValidationFailed):
    type, title = "invalid-parent", "Invalid parent comment"


class EditWindowClosed(Forbidden):
    type, title = "edit-window-closed", "The edit window has closed"


class NotTheAuthor(Forbidden):
    type, title = "not-the-author", "Only the author may do this"


class CommentNotEditable(Conflict):
    type, title = "comment-not-editable", "Comment cannot be edited in its moderation state"

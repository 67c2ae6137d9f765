from crm_common.errors import Conflict, Forbidden, NotFound


class AuthorBlocked(Forbidden):
    type, title = "author-blocked", "Author blocked"


class ModerationTransitionNotAllowed(Conflict):
    type, title = "moderation-transition-not-allowed", "Moderation action not allowed in this state"


class AuthorAlreadyBlocked(Conflict):
    type, title = "author-already-blocked", "Author already blocked"


class AuthorBlockNotFound(NotFound):
    type, title = "author-block-not-found", "Author not blocked"

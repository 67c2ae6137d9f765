from crm_common.errors import Conflict, NotFound


class MergeNotFound(NotFound):
    type, title = "merge-not-found", "Merge not found"


class MergeAlreadyUndone(Conflict):
    type, title = "merge-already-undone", "Merge already undone"


class MergeNotAllowed(Conflict):
    type, title = "merge-not-allowed", "Merge not allowed"


class ConflictNotFound(NotFound):
    type, title = "merge-conflict-not-found", "Merge conflict not found"


class ConflictAlreadyResolved(Conflict):
    type, title = "merge-conflict-resolved", "Merge conflict already resolved"

from crm_common.errors import Conflict, NotFound


class IdeaMergeNotFound(NotFound):
    type, title = "idea-merge-not-found", "Idea merge not found"


class MergeIntoItself(Conflict):
    type, title = "idea-merge-into-itself", "An idea cannot be merged into itself"


class IdeaAlreadyMerged(Conflict):
    type, title = "idea-already-merged", "The idea was already merged into another"


class MergeTargetMerged(Conflict):
    type, title = "idea-merge-target-merged", "The target idea was itself merged into another"


class MergeTargetNotPublished(Conflict):
    type, title = "idea-merge-target-not-published", "The target idea is not published"


class IdeaMergeAlreadyUndone(Conflict):
    type, title = "idea-merge-already-undone", "Idea merge already undone"


class IdeaMergeUndoBlocked(Conflict):
    type, title = "idea-merge-undo-blocked", "A later merge must be undone first"

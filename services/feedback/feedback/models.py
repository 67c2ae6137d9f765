"""Every table of the feedback service, imported so the metadata is complete (Alembic, tests)."""

from feedback.advocates.models import AdvocateScore
from feedback.boards.models import Board
from feedback.comments.models import Comment
from feedback.complaints.models import Complaint, ComplaintStatusChange
from feedback.customers.models import CustomerMergeMove, CustomerRef
from feedback.experience.models import FeedbackResponse
from feedback.idea_merges.models import IdeaMerge, IdeaMergeFollower, IdeaMergeVote
from feedback.ideas.models import Idea, IdeaFollower, IdeaStatusChange
from feedback.moderation.models import AuthorBlock, ModerationAction
from feedback.notifications.models import NotificationFanout
from feedback.touchpoints.models import FeedbackAlert
from feedback.votes.models import Vote

__all__ = [
    "AdvocateScore",
    "AuthorBlock",
    "Board",
    "Comment",
    "Complaint",
    "ComplaintStatusChange",
    "CustomerMergeMove",
    "CustomerRef",
    "FeedbackAlert",
    "FeedbackResponse",
    "Idea",
    "IdeaFollower",
    "IdeaMerge",
    "IdeaMergeFollower",
    "IdeaMergeVote",
    "IdeaStatusChange",
    "ModerationAction",
    "NotificationFanout",
    "Vote",
]

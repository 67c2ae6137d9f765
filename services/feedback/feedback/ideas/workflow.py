"""The idea status workflow, read from settings so each company can shape its own."""

from __future__ import annotations

from dataclasses import dataclass

from feedback.settings import FeedbackSettings

DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Workflow:
    """Statuses, the moves between them, and which statuses close an idea to voting."""

    transitions: dict[str, frozenset[str]]
    initial: str
    closed: frozenset[str]

    def can_move(self, from_status: str, to_status: str) -> bool:
        return to_status in self.transitions.get(from_status, frozenset())

    def is_closed(self, status: str) -> bool:
        return status in self.closed

    @property
    def statuses(self) -> list[str]:
        return list(self.transitions)


def workflow(settings: FeedbackSettings) -> Workflow:
    """The configured workflow (``CRM_FEEDBACK_IDEA_WORKFLOW``; validated when settings load)."""
    return Workflow(
        transitions={status: frozenset(nexts) for status, nexts in settings.idea_workflow.items()},
        initial=settings.idea_initial_status,
        closed=frozenset(settings.idea_closed_statuses),
    )

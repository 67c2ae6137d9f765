import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_common.validation import MultiLineText

TargetKind = Literal["idea", "comment"]
ModerationVerb = Literal["approve", "reject", "hide", "restore"]


class ModerationDecision(BaseModel):
    """The optional body of a moderation action: why, for the record."""

    model_config = ConfigDict(extra="forbid")

    reason: MultiLineText | None = Field(None, max_length=1000)


class ModerationActionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    target_kind: str = Field(description="idea, comment or author (a block).")
    target_id: uuid.UUID
    action: str = Field(description="approve, reject, hide, restore, hold (heuristics), block, unblock.")
    reason: str | None
    actor: str = Field(description="`heuristics`, or the staff member as `role:subject`.")
    acted_at: datetime


class ModerationActionPage(BaseModel):
    items: list[ModerationActionPublic]
    next_cursor: str | None = None


class ModerationOutcome(BaseModel):
    """What a moderation action did: the state before and after, and the recorded action."""

    target_kind: TargetKind
    target_id: uuid.UUID
    previous_state: str
    moderation_state: str
    action: ModerationActionPublic


class QueueItem(BaseModel):
    """A post waiting for a moderator, with what the heuristics found."""

    kind: TargetKind
    id: uuid.UUID
    idea_id: uuid.UUID = Field(description="The idea itself, or the idea a comment is on.")
    title: str | None = Field(description="The idea's title; null for comments.")
    body: str
    author_id: uuid.UUID | None
    created_at: datetime
    spam_score: float
    reasons: list[str] = Field(
        description="Why it waits: links, burst, repeated_text, shouting, repeated_characters, "
        "pre_moderation."
    )


class QueuePage(BaseModel):
    items: list[QueueItem]
    next_cursor: str | None = None


class AuthorBlockCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    reason: MultiLineText = Field(max_length=1000)


class AuthorBlockPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    customer_id: uuid.UUID
    reason: str
    blocked_by: str
    blocked_at: datetime


class AuthorBlockPage(BaseModel):
    items: list[AuthorBlockPublic]
    next_cursor: str | None = None

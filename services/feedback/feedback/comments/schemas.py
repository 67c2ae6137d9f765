import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from crm_common.validation import MultiLineText

MAX_BODY_CHARACTERS = 5000

CommentBody = Annotated[MultiLineText, Field(max_length=MAX_BODY_CHARACTERS)]


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: CommentBody
    parent_id: uuid.UUID | None = Field(
        None, description="Reply to this top-level comment of the same idea (one level of replies)."
    )


class CommentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: CommentBody


class CommentPublic(BaseModel):
    id: uuid.UUID
    idea_id: uuid.UUID
    parent_id: uuid.UUID | None
    author_kind: str = Field(description="customer or staff.")
    author_id: uuid.UUID | None = Field(
        description="The customer who wrote it: shown to staff and to the author; null for staff, "
        "erased authors and other customers' comments seen by a customer."
    )
    staff_subject: str | None = Field(None, description="The staff member who wrote it (staff only).")
    official: bool = Field(description="Written by staff: an official answer.")
    body: str
    moderation_state: str = Field(description="pending, published, hidden or rejected.")
    spam_score: float | None = Field(None, description="The heuristics' score (staff only).")
    created_at: datetime
    edited_at: datetime | None


class CommentThread(CommentPublic):
    """A top-level comment with its first replies, oldest first."""

    replies: list[CommentPublic]
    reply_count: int = Field(description="All replies the caller may see, also those not included.")


class CommentThreadPage(BaseModel):
    items: list[CommentThread]
    next_cursor: str | None = None


class CommentPage(BaseModel):
    items: list[CommentPublic]
    next_cursor: str | None = None


class CommentPageBatch(BaseModel):
    """The first page of each requested customer's comments, keyed by customer id."""

    items: dict[str, CommentPage] = Field(
        description="Every requested customer; continue one with `/v1/comments?author_id={id}&after=`."
    )

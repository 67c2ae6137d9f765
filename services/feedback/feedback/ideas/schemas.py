import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_common.validation import MultiLineText, SingleLineText

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
IdeaSort = Literal["top", "trending", "newest"]


class IdeaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[SingleLineText, Field(min_length=3, max_length=200)]
    body: Annotated[MultiLineText, Field(min_length=1, max_length=10_000)]
    category: Slug | None = None
    tags: list[Slug] = Field(default_factory=list, max_length=10)
    board: Slug | None = Field(None, description="Board slug; the default board when omitted.")


class IdeaUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[SingleLineText, Field(min_length=3, max_length=200)] | None = None
    body: Annotated[MultiLineText, Field(min_length=1, max_length=10_000)] | None = None
    category: Slug | None = None
    tags: list[Slug] | None = Field(None, max_length=10)


class IdeaPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    board_id: uuid.UUID
    title: str
    body: str
    category: str | None
    tags: list[str]
    status: str
    author_id: uuid.UUID | None = Field(
        description="Shown to staff and to the author; null for other customers and once erased."
    )
    up_count: int
    down_count: int
    comment_count: int
    score: float = Field(description="Wilson lower bound of the up-vote share (the `top` key).")
    moderation_state: str
    merged_into_id: uuid.UUID | None
    created_at: datetime
    edited_at: datetime | None
    status_changed_at: datetime
    my_vote: Literal["up", "down"] | None = Field(None, description="The calling customer's vote.")


class SimilarIdea(BaseModel):
    id: uuid.UUID
    title: str
    status: str
    up_count: int
    similarity: float


class IdeaSubmitted(IdeaPublic):
    similar_ideas: list[SimilarIdea] = Field(
        description="Existing ideas with similar titles: the app can offer to vote on one instead."
    )


class IdeaPage(BaseModel):
    items: list[IdeaPublic]
    next_cursor: str | None = Field(None, description="Pass as `after` for the next page.")


class StatusChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,29}$")]
    response: Annotated[MultiLineText, Field(max_length=5_000)] | None = Field(
        None, description="The official response voters and followers are told."
    )


class StatusChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    idea_id: uuid.UUID
    from_status: str | None
    to_status: str
    response: str | None
    changed_by: str
    changed_at: datetime


class FollowPublic(BaseModel):
    idea_id: uuid.UUID
    following: bool


class IdeaPageBatch(BaseModel):
    """The first page of ideas each requested customer authored, newest first, keyed by customer id."""

    items: dict[str, IdeaPage] = Field(
        description="Every requested customer; continue one with "
        "`/v1/ideas?author_id={id}&sort=newest&after=` (and the same `moderation_state`)."
    )

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Direction = Literal["up", "down"]


class VoteSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Direction = Field(description="`up` promotes the idea, `down` demotes it.")


class VoteState(BaseModel):
    """The caller's vote after the call and the idea's exact tallies."""

    idea_id: uuid.UUID
    direction: Direction | None
    up_count: int
    down_count: int
    score: float
    votes_left: int | None = Field(None, description="Budget votes left on the board; null: no budget.")


class VotePublic(BaseModel):
    idea_id: uuid.UUID
    customer_id: uuid.UUID
    direction: Direction
    cast_at: datetime


class VotePage(BaseModel):
    items: list[VotePublic]
    next_cursor: str | None = None


class VotePageBatch(BaseModel):
    """The first page of each requested customer's votes, keyed by customer id."""

    items: dict[str, VotePage] = Field(
        description="Every requested customer; continue one with `/v1/customers/{id}/votes?after=`."
    )

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from crm_common.validation import MultiLineText


class IdeaMergeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into_idea_id: uuid.UUID = Field(description="The idea that survives and receives the votes.")
    response: Annotated[MultiLineText, Field(max_length=5000)] | None = Field(
        None, description="The official word shown to the duplicate's voters and followers."
    )


class IdeaMergePublic(BaseModel):
    id: uuid.UUID
    source_idea_id: uuid.UUID = Field(description="The duplicate, now in status `duplicate`.")
    target_idea_id: uuid.UUID = Field(description="The idea that survived.")
    source_prior_status: str = Field(
        description="The duplicate's status before the merge (undo restores it)."
    )
    merged_by: str
    merged_at: datetime
    undone_at: datetime | None
    undone_by: str | None
    moved_votes: int = Field(description="Votes of the duplicate that moved to the target.")
    dropped_votes: int = Field(
        description="Votes of customers who had voted on the target too: their target vote stands."
    )
    moved_followers: int
    already_following: int = Field(description="Followers of the duplicate who followed the target already.")


class IdeaMergeUndone(IdeaMergePublic):
    restored_votes: int = Field(description="Votes back on the duplicate, as they were before the merge.")
    removed_target_votes: int = Field(description="Moved votes taken off the target again.")
    kept_target_votes: int = Field(
        description="Moved votes the customer changed on the target after the merge: they stay there."
    )
    restored_followers: int
    removed_target_followers: int


class IdeaMergePage(BaseModel):
    items: list[IdeaMergePublic]
    next_cursor: str | None = Field(
        None, description="Pass as `after` for the next page; null on the last page."
    )

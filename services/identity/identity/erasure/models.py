import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, String, func
from sqlmodel import Field

from identity.database import IdentityModel


class ErasureTombstone(IdentityModel, table=True):
    """A salted hash of an erased person's identifier, so replayed events do not bring them back."""

    __tablename__ = "erasure_tombstone"

    identifier_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    customer_id: uuid.UUID
    erased_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )

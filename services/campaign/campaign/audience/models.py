import uuid
from datetime import datetime

from sqlalchemy import Column, DateTime, func
from sqlmodel import Field

from campaign.database import CampaignModel


class AudienceMember(CampaignModel, table=True):
    """A customer as the campaign service knows it, projected from identity's events."""

    __tablename__ = "audience_member"

    customer_id: uuid.UUID = Field(primary_key=True)
    display_name: str | None = Field(default=None, max_length=400)
    email: str | None = Field(default=None, max_length=320)
    customer_created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    projected_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(
            DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
        )
    )

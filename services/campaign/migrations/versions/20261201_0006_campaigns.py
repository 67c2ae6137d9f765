"""campaigns

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("definition", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "content_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("enroll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enroll_after", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
    )
    op.create_index("ix_campaign_status", "campaign", ["status"], unique=False)
    op.create_table(
        "campaign_enrollment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("occurrence", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("group", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("variant_key", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("current_step", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column(
            "visited",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("goal_event", sa.String(length=100), nullable=True),
        sa.Column("goal_deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(length=200), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_enrollment_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_enrollment")),
        sa.UniqueConstraint(
            "campaign_id",
            "customer_id",
            "occurrence",
            name=op.f("uq_campaign_enrollment_campaign_id_customer_id_occurrence"),
        ),
    )
    op.create_index(
        "ix_campaign_enrollment_customer_id", "campaign_enrollment", ["customer_id"], unique=False
    )
    op.create_index(
        "ix_campaign_enrollment_due",
        "campaign_enrollment",
        ["next_run_at"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "campaign_allocation",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("campaign_id", sa.Uuid(), nullable=False),
        sa.Column("step_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("weights", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("successes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("trials", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
            name=op.f("fk_campaign_allocation_campaign_id_campaign"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_allocation")),
    )
    op.create_index(
        "ix_campaign_allocation_campaign_id",
        "campaign_allocation",
        ["campaign_id", "step_id", "computed_at"],
        unique=False,
    )
    op.create_table(
        "campaign_enrollment_merge",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("merge_id", sa.Uuid(), nullable=False),
        sa.Column("enrollment_id", sa.Uuid(), nullable=False),
        sa.Column("from_customer_id", sa.Uuid(), nullable=False),
        sa.Column("to_customer_id", sa.Uuid(), nullable=False),
        sa.Column("dropped_row", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_enrollment_merge")),
    )
    op.create_index(
        "ix_campaign_enrollment_merge_merge_id", "campaign_enrollment_merge", ["merge_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_enrollment_merge_merge_id", table_name="campaign_enrollment_merge")
    op.drop_table("campaign_enrollment_merge")
    op.drop_index("ix_campaign_allocation_campaign_id", table_name="campaign_allocation")
    op.drop_table("campaign_allocation")
    op.drop_index("ix_campaign_enrollment_due", table_name="campaign_enrollment")
    op.drop_index("ix_campaign_enrollment_customer_id", table_name="campaign_enrollment")
    op.drop_table("campaign_enrollment")
    op.drop_index("ix_campaign_status", table_name="campaign")
    op.drop_table("campaign")

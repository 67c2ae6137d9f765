"""delivery: the ledger, responses, suppressions, per-campaign delivery state

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 07:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUE = sa.text("status IN ('pending', 'held')")


def upgrade() -> None:
    op.create_table(
        "delivery",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=False),
        sa.Column("variant_key", sa.String(length=100), nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("occurrence", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("content_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "not_before_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cap_counted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'held', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')",
            name=op.f("ck_delivery_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery")),
        sa.UniqueConstraint(
            "campaign_id",
            "step_id",
            "customer_id",
            "occurrence",
            name=op.f("uq_delivery_campaign_id_step_id_customer_id_occurrence"),
        ),
    )
    op.create_index("ix_delivery_due", "delivery", ["not_before_at"], postgresql_where=DUE)
    op.create_index(
        "ix_delivery_lease", "delivery", ["lease_expires_at"], postgresql_where=sa.text("status = 'sending'")
    )
    op.create_index(
        "ix_delivery_customer_history",
        "delivery",
        ["customer_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_delivery_cap_window",
        "delivery",
        ["customer_id", "cap_counted_at"],
        postgresql_where=sa.text("cap_counted_at IS NOT NULL"),
    )

    op.create_table(
        "delivery_response",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("message_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=False),
        sa.Column("variant_key", sa.String(length=100), nullable=False),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed')",
            name=op.f("ck_delivery_response_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_response")),
        sa.UniqueConstraint(
            "message_id", "kind", "url", name=op.f("uq_delivery_response_message_id_kind_url")
        ),
    )
    op.create_index(
        "ix_delivery_response_campaign",
        "delivery_response",
        ["campaign_id", "step_id", "kind", "customer_id"],
    )

    op.create_table(
        "suppression",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("suppression_key", sa.String(length=500), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("address", sa.String(length=320), nullable=True),
        sa.Column("customer_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("purpose", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "address IS NOT NULL OR customer_id IS NOT NULL", name=op.f("ck_suppression_target")
        ),
        sa.CheckConstraint(
            "reason IN ('hard_bounce', 'complaint', 'unsubscribe', 'manual')",
            name=op.f("ck_suppression_reason"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression")),
        sa.UniqueConstraint("suppression_key", name=op.f("uq_suppression_suppression_key")),
    )
    op.create_index("ix_suppression_address", "suppression", ["address"])
    op.create_index("ix_suppression_customer_id", "suppression", ["customer_id"])

    op.create_table(
        "campaign_delivery_state",
        sa.Column("campaign_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "state IN ('active', 'paused', 'cancelled')", name=op.f("ck_campaign_delivery_state_state")
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_delivery_state")),
    )


def downgrade() -> None:
    op.drop_table("campaign_delivery_state")
    op.drop_index("ix_suppression_customer_id", table_name="suppression")
    op.drop_index("ix_suppression_address", table_name="suppression")
    op.drop_table("suppression")
    op.drop_index("ix_delivery_response_campaign", table_name="delivery_response")
    op.drop_table("delivery_response")
    op.drop_index("ix_delivery_cap_window", table_name="delivery")
    op.drop_index("ix_delivery_customer_history", table_name="delivery")
    op.drop_index("ix_delivery_lease", table_name="delivery")
    op.drop_index("ix_delivery_due", table_name="delivery")
    op.drop_table("delivery")

"""audience segments: the customer read model (activity, purchases, catalog, derived RFM and
lifecycle, the dirty set) and segments with their stored membership.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # autogenerate renders SQLModel strings as AutoString
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audience_change",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_audience_change")),
    )
    op.create_index("ix_audience_change_changed_at", "audience_change", ["changed_at"], unique=False)
    op.create_table(
        "customer_activity",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("origin_customer_id", sa.Uuid(), nullable=False),
        sa.Column("activity_type", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "properties",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_activity")),
        sa.UniqueConstraint("event_id", name=op.f("uq_customer_activity_event_id")),
    )
    op.create_index(
        "ix_customer_activity_customer_type_at",
        "customer_activity",
        ["customer_id", "activity_type", "occurred_at"],
        unique=False,
    )
    op.create_index(
        "ix_customer_activity_origin_customer_id", "customer_activity", ["origin_customer_id"], unique=False
    )
    op.create_index(
        "ix_customer_activity_type_at", "customer_activity", ["activity_type", "occurred_at"], unique=False
    )
    op.create_table(
        "erased_customer",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_erased_customer")),
    )
    op.create_table(
        "merged_customer",
        sa.Column("merged_id", sa.Uuid(), nullable=False),
        sa.Column("survivor_id", sa.Uuid(), nullable=False),
        sa.Column("merged_into", sa.Uuid(), nullable=False),
        sa.Column("profile", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("merged_id", name=op.f("pk_merged_customer")),
    )
    op.create_index("ix_merged_customer_merged_into", "merged_customer", ["merged_into"], unique=False)
    op.create_index("ix_merged_customer_survivor_id", "merged_customer", ["survivor_id"], unique=False)
    op.create_table(
        "product",
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("price", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("purchase_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sku", name=op.f("pk_product")),
    )
    op.create_index("ix_product_category_price", "product", ["category", "price"], unique=False)
    op.create_table(
        "purchase",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("origin_customer_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("sku", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("price", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase")),
        sa.UniqueConstraint("event_id", "line_number", name=op.f("uq_purchase_event_id_line_number")),
    )
    op.create_index("ix_purchase_customer_id", "purchase", ["customer_id"], unique=False)
    op.create_index("ix_purchase_origin_customer_id", "purchase", ["origin_customer_id"], unique=False)
    op.create_table(
        "rfm_threshold",
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("cut_points", postgresql.ARRAY(sa.Float()), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("dimension", name=op.f("pk_rfm_threshold")),
    )
    op.create_table(
        "segment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("rule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "referenced_segment_ids",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
        sa.Column("member_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
        sa.UniqueConstraint("name", name=op.f("uq_segment_name")),
    )
    op.create_table(
        "segment_membership",
        sa.Column("segment_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
            name=op.f("fk_segment_membership_segment_id_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", "customer_id", name=op.f("pk_segment_membership")),
    )
    op.create_index("ix_segment_membership_customer_id", "segment_membership", ["customer_id"], unique=False)
    op.add_column(
        "audience_member", sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True)
    )
    op.add_column(
        "audience_member",
        sa.Column(
            "traits",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "audience_member", sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
    )
    op.add_column(
        "audience_member",
        sa.Column(
            "consents",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "audience_member", sa.Column("order_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "audience_member",
        sa.Column(
            "order_total", sa.Numeric(precision=16, scale=2), server_default=sa.text("0"), nullable=False
        ),
    )
    op.add_column(
        "audience_member", sa.Column("avg_order_value", sa.Numeric(precision=16, scale=2), nullable=True)
    )
    op.add_column("audience_member", sa.Column("first_order_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("audience_member", sa.Column("last_order_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "audience_member",
        sa.Column(
            "top_categories",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
    )
    op.add_column("audience_member", sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("audience_member", sa.Column("latest_nps", sa.SmallInteger(), nullable=True))
    op.add_column(
        "audience_member", sa.Column("nps_count", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column(
        "audience_member",
        sa.Column("open_complaints", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "audience_member",
        sa.Column("complaint_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("audience_member", sa.Column("advocate_score", sa.Float(), nullable=True))
    op.add_column(
        "audience_member",
        sa.Column("advocate_tier", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    )
    op.add_column("audience_member", sa.Column("rfm_recency", sa.SmallInteger(), nullable=True))
    op.add_column("audience_member", sa.Column("rfm_frequency", sa.SmallInteger(), nullable=True))
    op.add_column("audience_member", sa.Column("rfm_monetary", sa.SmallInteger(), nullable=True))
    op.add_column(
        "audience_member",
        sa.Column("rfm_segment", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    )
    op.add_column(
        "audience_member",
        sa.Column("value_tier", sa.String(length=10), server_default=sa.text("'low'"), nullable=False),
    )
    op.add_column(
        "audience_member",
        sa.Column(
            "lifecycle_stage", sa.String(length=10), server_default=sa.text("'prospect'"), nullable=False
        ),
    )
    op.add_column("audience_member", sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("audience_member", sa.Column("last_opened_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("audience_member", sa.Column("last_clicked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_audience_member_lifecycle_stage", "audience_member", ["lifecycle_stage"], unique=False
    )
    op.create_index("ix_audience_member_value_tier", "audience_member", ["value_tier"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audience_member_value_tier", table_name="audience_member")
    op.drop_index("ix_audience_member_lifecycle_stage", table_name="audience_member")
    op.drop_column("audience_member", "last_clicked_at")
    op.drop_column("audience_member", "last_opened_at")
    op.drop_column("audience_member", "last_message_at")
    op.drop_column("audience_member", "lifecycle_stage")
    op.drop_column("audience_member", "value_tier")
    op.drop_column("audience_member", "rfm_segment")
    op.drop_column("audience_member", "rfm_monetary")
    op.drop_column("audience_member", "rfm_frequency")
    op.drop_column("audience_member", "rfm_recency")
    op.drop_column("audience_member", "advocate_tier")
    op.drop_column("audience_member", "advocate_score")
    op.drop_column("audience_member", "complaint_count")
    op.drop_column("audience_member", "open_complaints")
    op.drop_column("audience_member", "nps_count")
    op.drop_column("audience_member", "latest_nps")
    op.drop_column("audience_member", "last_activity_at")
    op.drop_column("audience_member", "top_categories")
    op.drop_column("audience_member", "last_order_at")
    op.drop_column("audience_member", "first_order_at")
    op.drop_column("audience_member", "avg_order_value")
    op.drop_column("audience_member", "order_total")
    op.drop_column("audience_member", "order_count")
    op.drop_column("audience_member", "consents")
    op.drop_column("audience_member", "time_zone")
    op.drop_column("audience_member", "traits")
    op.drop_column("audience_member", "phone")
    op.drop_index("ix_segment_membership_customer_id", table_name="segment_membership")
    op.drop_table("segment_membership")
    op.drop_table("segment")
    op.drop_table("rfm_threshold")
    op.drop_index("ix_purchase_origin_customer_id", table_name="purchase")
    op.drop_index("ix_purchase_customer_id", table_name="purchase")
    op.drop_table("purchase")
    op.drop_index("ix_product_category_price", table_name="product")
    op.drop_table("product")
    op.drop_index("ix_merged_customer_survivor_id", table_name="merged_customer")
    op.drop_index("ix_merged_customer_merged_into", table_name="merged_customer")
    op.drop_table("merged_customer")
    op.drop_table("erased_customer")
    op.drop_index("ix_customer_activity_type_at", table_name="customer_activity")
    op.drop_index("ix_customer_activity_origin_customer_id", table_name="customer_activity")
    op.drop_index("ix_customer_activity_customer_type_at", table_name="customer_activity")
    op.drop_table("customer_activity")
    op.drop_index("ix_audience_change_changed_at", table_name="audience_change")
    op.drop_table("audience_change")

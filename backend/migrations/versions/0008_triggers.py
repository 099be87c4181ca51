"""notification triggers per business unit and activity type, fired once per event

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("activity_type_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("hours_before", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=200), nullable=False),
        sa.Column("templates", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["business_unit_id"], ["business_units.id"]),
        sa.ForeignKeyConstraint(["activity_type_id"], ["activity_types.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_notification_triggers_bu_event",
        "notification_triggers",
        ["business_unit_id", "event"],
    )
    op.create_table(
        "pending_triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("clients") as batch:
        batch.add_column(
            sa.Column("email_notifications", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("sms_notifications", sa.Boolean(), nullable=True))
    op.create_index("ix_activities_window_start", "activities", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_activities_window_start", table_name="activities")
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("sms_notifications")
        batch.drop_column("email_notifications")
    op.drop_table("pending_triggers")
    op.drop_index("ix_notification_triggers_bu_event", table_name="notification_triggers")
    op.drop_table("notification_triggers")

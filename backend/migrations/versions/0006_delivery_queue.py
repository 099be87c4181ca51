"""outgoing messages become a delivery queue (retries, dead letter, idempotency)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NEW_COLUMNS = (
    "client_id",
    "language",
    "html",
    "idempotency_key",
    "dedupe_key",
    "attempts",
    "next_attempt_at",
    "last_error",
    "sent_at",
    "provider_id",
    "segments",
    "cost_centicredits",
)


def upgrade() -> None:
    with op.batch_alter_table("outgoing_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("language", sa.String(length=10), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("html", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("last_error", sa.String(length=500), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("provider_id", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(sa.Column("segments", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("cost_centicredits", sa.Integer(), server_default="0", nullable=False)
        )
    # Messages recorded before the queue existed were sent (or refused) already:
    # they keep their status and get a key of their own.
    op.execute("UPDATE outgoing_messages SET idempotency_key = 'legacy-' || id")
    op.execute("UPDATE outgoing_messages SET sent_at = created_at WHERE status = 'sent'")
    with op.batch_alter_table("outgoing_messages", schema=None) as batch_op:
        batch_op.alter_column("idempotency_key", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(
            batch_op.f("ix_outgoing_messages_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            "ix_outgoing_messages_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_outgoing_messages_idempotency_key"), ["idempotency_key"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_outgoing_messages_dedupe_key"), ["dedupe_key"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outgoing_messages_client_id_clients"), "clients", ["client_id"], ["id"]
        )

    op.create_table(
        "outgoing_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["outgoing_messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outgoing_attachments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outgoing_attachments_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outgoing_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outgoing_attachments_message_id"))
    op.drop_table("outgoing_attachments")
    with op.batch_alter_table("outgoing_messages", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outgoing_messages_client_id_clients"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_outgoing_messages_dedupe_key"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_outgoing_messages_idempotency_key"), type_="unique")
        batch_op.drop_index("ix_outgoing_messages_due")
        batch_op.drop_index(batch_op.f("ix_outgoing_messages_client_id"))
        for name in reversed(_NEW_COLUMNS):
            batch_op.drop_column(name)

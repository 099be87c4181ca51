"""generated documents (reports), content-addressed cache

Closures as the technician recorded them, the rendered files (stored once per
content), the files each activity offers its client, and the business unit's
choice of formats.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("business_units") as batch:
        batch.add_column(
            sa.Column("report_formats", sa.String(length=10), nullable=False, server_default="pdf")
        )
    op.create_table(
        "activity_closures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_activity_closures_activity_id", "activity_closures", ["activity_id"], unique=False
    )
    op.create_table(
        "generated_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("content_key"),
    )
    op.create_table(
        "activity_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("doc_key", sa.String(length=60), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_key", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_id", "doc_key", name="uq_activity_document"),
    )
    op.create_index(
        "ix_activity_documents_content", "activity_documents", ["content_key"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_activity_documents_content", table_name="activity_documents")
    op.drop_table("activity_documents")
    op.drop_table("generated_documents")
    op.drop_index("ix_activity_closures_activity_id", table_name="activity_closures")
    op.drop_table("activity_closures")
    with op.batch_alter_table("business_units") as batch:
        batch.drop_column("report_formats")

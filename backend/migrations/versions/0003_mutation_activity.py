"""mutation records remember their activity (a reused id is refused)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mutations") as batch:
        batch.add_column(sa.Column("activity_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mutations") as batch:
        batch.drop_column("activity_id")

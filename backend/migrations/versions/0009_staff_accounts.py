"""staff accounts, roles per business unit, API keys, audit log

Also: form versions (editing a form that has answers makes a new one), the
client search index (normalised name words), filled here for existing clients,
and the contact a client session signed in with (``sessions.contact``, copied
from the code's identifier or the link's ``login_links.contact``).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("totp_secret", sa.String(length=200), nullable=False),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "staff_memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(["business_unit_id"], ["business_units.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staff_id", "business_unit_id", name="uq_staff_bu"),
    )
    op.create_index("ix_staff_memberships_staff_id", "staff_memberships", ["staff_id"])
    op.create_index(
        "ix_staff_memberships_business_unit_id", "staff_memberships", ["business_unit_id"]
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])
    op.create_table(
        "staff_set_password_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_staff_set_password_tokens_staff_id", "staff_set_password_tokens", ["staff_id"]
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("business_unit_ids", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor_kind", sa.String(length=12), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(length=200), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("target_kind", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_label", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_bu_id", "audit_log", ["business_unit_id", "id"])
    op.create_table(
        "client_search_words",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=60), nullable=False),
        sa.Column("business_unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"]),
        sa.PrimaryKeyConstraint("client_id", "word"),
    )
    op.create_index(
        "ix_client_search_bu_word",
        "client_search_words",
        ["business_unit_id", "word", "client_id"],
    )
    with op.batch_alter_table("form_definitions") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("replaced_by_id", sa.Integer(), nullable=True))
    op.add_column("sessions", sa.Column("contact", sa.String(length=200), nullable=True))
    op.add_column("login_links", sa.Column("contact", sa.String(length=200), nullable=True))
    _index_existing_clients()


def _index_existing_clients() -> None:
    # The same normalisation the application uses (a pure function).
    from backend.search_text import name_words

    conn = op.get_bind()
    clients = sa.table("clients", sa.column("id"), sa.column("business_unit_id"), sa.column("name"))
    words = sa.table(
        "client_search_words",
        sa.column("client_id"),
        sa.column("word"),
        sa.column("business_unit_id"),
    )
    rows = [
        {"client_id": cid, "word": word, "business_unit_id": bu}
        for cid, bu, name in conn.execute(
            sa.select(clients.c.id, clients.c.business_unit_id, clients.c.name)
        )
        for word in name_words(name)
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(sa.insert(words), rows[start : start + 5000])


def downgrade() -> None:
    with op.batch_alter_table("login_links") as batch:
        batch.drop_column("contact")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("contact")
    with op.batch_alter_table("form_definitions") as batch:
        batch.drop_column("replaced_by_id")
        batch.drop_column("version")
    op.drop_index("ix_client_search_bu_word", table_name="client_search_words")
    op.drop_table("client_search_words")
    op.drop_index("ix_audit_bu_id", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_index("ix_staff_set_password_tokens_staff_id", table_name="staff_set_password_tokens")
    op.drop_table("staff_set_password_tokens")
    op.drop_index("ix_staff_sessions_staff_id", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_index("ix_staff_memberships_business_unit_id", table_name="staff_memberships")
    op.drop_index("ix_staff_memberships_staff_id", table_name="staff_memberships")
    op.drop_table("staff_memberships")
    op.drop_table("staff_users")

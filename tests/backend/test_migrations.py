"""Schema migrations: the head revision matches the models and upgrades keep data."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from backend.core.db import alembic_config, make_engine, upgrade
from backend.models import Base


def test_head_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def test_upgrade_from_the_first_release_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    command.upgrade(alembic_config(url), "0001")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO business_units (name, logo, phone, email, address, description,"
                " primary_color, timezone, locale, portal_enabled,"
                " portal_default_for_new_clients, permanent_links_allowed, sms_links_allowed,"
                " show_cancelled_activities, sms_centicredits, booking)"
                " VALUES ('Kept', '', '', '', '', '', '#000000', 'Europe/Paris', 'fr',"
                " 1, 1, 1, 1, 1, 0, '{}')"
            )
        )
    engine.dispose()
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM business_units")).scalar_one() == "Kept"
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert conn.execute(text("SELECT schedule_version FROM business_units")).scalar_one() == 0
        mode = conn.execute(text("PRAGMA journal_mode")).scalar_one()
    assert version == ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert mode == "wal"


def test_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1

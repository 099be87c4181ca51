"""The key staff-access tests again on PostgreSQL: roles on every route, API keys, audit,
lockout, bulk portal access (counts, one fixed set of statements, sessions ended) and
client search (accent folding, prefixes, keyset pages).

The test functions are those of ``tests/backend/test_staff_access.py``, imported here
so that pytest runs them a second time with this module's ``settings`` and ``api``
fixtures, which point the app at PostgreSQL. Skipped unless
``PORTAL_TEST_POSTGRES_URL`` names a throwaway database (``.ci/run`` starts one);
each test drops and recreates its ``public`` schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, text

from backend.api.main import create_app
from backend.core.config import Settings
from tests.backend.test_postgres import POSTGRES_URL
from tests.backend.test_staff_access import (  # noqa: F401 (collected by pytest from here)
    test_a_staff_write_is_audited_with_changed_fields_only,
    test_api_key_shown_once_hashed_scoped_and_revocable,
    test_bulk_counts_is_idempotent_and_costs_the_same_statements_for_any_count,
    test_bulk_off_kills_sessions_and_back_on_the_client_signs_in_to_a_whole_feed,
    test_client_search_by_name_email_phone_and_id,
    test_each_role_gets_404_for_another_units_ids_on_every_route,
    test_five_failures_lock_the_account_for_15_minutes,
    test_roles_below_the_routes_need_get_403_in_their_own_unit,
    test_unknown_email_is_locked_like_a_known_one,
    world,
)
from tests.conftest import Clock

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="PostgreSQL tests need PORTAL_TEST_POSTGRES_URL (a throwaway database); "
    ".ci/run starts one",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The app's settings on an empty PostgreSQL schema (overrides tests/conftest.py's)."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()
    return Settings(
        data_dir=tmp_path,
        database_url=POSTGRES_URL,
        secret_key="test-secret-key",
        staff_token="test-staff-token",
        log_messages=False,
        strict_writes=True,
    )


@pytest.fixture
def api(settings: Settings, clock: Clock) -> Iterator[FastAPI]:
    app = create_app(settings, clock=clock)
    assert app.state.engine.dialect.name == "postgresql"
    yield app
    app.state.engine.dispose()
    app.state.hot_reader.close()

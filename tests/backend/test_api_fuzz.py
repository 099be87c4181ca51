"""Schemathesis over the OpenAPI schema: no generated request may produce a 500."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from backend.api.main import create_app
from backend.core.config import Settings
from tests.backend.portal_setup import build_world

# schemathesis parametrizes at collection time, so the app (on its own SQLite
# file in a throwaway directory) is built when the module is imported.
_TMP = Path(tempfile.mkdtemp(prefix="portal-fuzz-"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
_CONFIG = Settings(
    data_dir=_TMP,
    database_url=f"sqlite:///{_TMP / 'portal.db'}",
    secret_key="fuzz-secret",
    staff_token="test-staff-token",
    log_messages=False,
)
_NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
APP = create_app(_CONFIG, clock=lambda: _NOW)
_db = APP.state.sessionmaker()
WORLD = build_world(_db, _CONFIG, _NOW)
_db.close()

# Logging out would end the shared session and leave later cases testing only
# the 401 path; logout has its own tests.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path="/auth/logout")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    headers = {
        "Authorization": f"Bearer {WORLD.alice_token}",
        "X-Staff-Token": "test-staff-token",
    }
    response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )

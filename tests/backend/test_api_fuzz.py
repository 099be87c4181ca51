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
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.core.parameters import ParameterLocation

from backend.api.main import create_app
from backend.core.config import Settings
from tests.backend.portal_setup import build_world

# A quote's PDF is uploaded as the raw file (PUT .../quote/pdf): generated
# bytes are sent as they are, like any binary body.
schemathesis.serializer.alias("application/pdf", "application/octet-stream")

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
# Unknown query parameters are ignored, as HTTP APIs commonly do (an older
# app may send one a newer server dropped): not a mutation to test.
schema.config.generation.update(allow_extra_parameters=False)


# Every built-in check (``schemathesis run --checks all``) but one:
# positive_data_acceptance expects every schema-valid request to be accepted,
# while the API checks meaning that OpenAPI cannot state (an identifier must
# be an email address or a phone number, a patch may omit a field but not
# null it, a form keeps at least one field) and answers those with a 422
# naming the field, as it must.
load_all_checks()
CHECKS = [
    check for check in CHECK_REGISTRY.get_all() if check.__name__ != "positive_data_acceptance"
]
AUTH = {"Authorization": f"Bearer {WORLD.alice_token}", "X-Staff-Token": "test-staff-token"}


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_every_check_passes(case: schemathesis.Case) -> None:
    # Headers generated to be invalid (a wrong or missing token) are sent as generated.
    negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    headers = {} if negative else AUTH
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )

"""Documents in a real Chromium: staff close a visit through the API, the client's
app shows its report under the appointment and in the Documents tab, opens it
(a download), and opens it again with the server out of reach."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from tests.backend.test_mutations import SIGNATURE
from tests.e2e.conftest import DESKTOP, PHONE, open_app, shot, start_app
from tests.e2e.test_app_e2e import nav
from tests.e2e.test_booking_e2e import sign_in_with_code
from tests.e2e.test_forms_e2e import Backend, reach, seen

STROKES = SIGNATURE


def test_a_closed_visits_report_opens_and_opens_again_offline(browser: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    app = start_app(tmp_path, data, name="online")
    backend = Backend(app.backend_db, tmp_path / "staff")
    email = app.demo_email()
    visit = backend.activity(email, "Entretien chaudière", ("scheduled",))
    page = None
    try:
        page = open_app(browser, f"{app.url}/activities/{visit}", PHONE)
        sign_in_with_code(page, app)
        closed = backend.http.post(
            f"/staff/activities/{visit}/closure",
            json={
                "summary": "Chaudière nettoyée, brûleur réglé, combustion contrôlée.",
                "work_done": ["Nettoyage du corps de chauffe", "Réglage du brûleur"],
                "answers": [{"label": "Pression du circuit", "value": "1,5 bar"}],
                "technician_signature": STROKES,
                "technician_name": "Paul",
                "client_signature": STROKES,
                "client_signer_name": "Claire Chauvin",
            },
            headers=backend.staff,
        )
        assert closed.status_code in (200, 201), closed.text
        [(title, sha256, filename)] = backend.rows(
            "SELECT title, sha256, filename FROM activity_documents "
            "WHERE activity_id = ? AND kind = 'report' AND doc_key LIKE '%.pdf'",
            visit,
        )
        # The next periodic sync (3 s) brings the report to the open appointment.
        report = reach(page, page.get_by_role("button", name=re.compile(re.escape(title))))
        seen(page, "Ouvrez-le une fois en ligne pour le garder sur cet appareil").wait_for(
            timeout=10_000
        )
        shot(page, "documents_phone_01_in_the_appointment")
        with page.expect_download(timeout=30_000) as download:
            report.click()
        pdf = Path(download.value.path()).read_bytes()
        assert download.value.suggested_filename == filename
        assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == sha256
        seen(page, "Disponible hors connexion").wait_for(timeout=20_000)

        nav(page, "Documents")
        seen(page, "Vos documents").wait_for(timeout=20_000)
        page.get_by_role("button", name=re.compile(re.escape(title))).first.wait_for(timeout=20_000)
        shot(page, "documents_phone_02_tab")
        assert "Traceback" not in app.log_path.read_text()
        page.close()
        page = None
    except Exception:
        if page is not None:
            shot(page, "failure_documents_online")
        raise
    finally:
        app.stop()
        backend.close()

    # The server out of reach: the kept report still opens, on a desktop too.
    offline = start_app(tmp_path, data, "--server", "http://127.0.0.1:9", name="offline")
    try:
        page = open_app(browser, f"{offline.url}/documents", DESKTOP)
        seen(page, "Vos documents").wait_for(timeout=30_000)
        tile = page.get_by_role("button", name=re.compile(re.escape(title))).first
        tile.wait_for(timeout=20_000)
        seen(page, "Disponible hors connexion").wait_for(timeout=10_000)
        shot(page, "documents_desktop_03_offline")
        with page.expect_download(timeout=30_000) as download:
            tile.click()
        assert Path(download.value.path()).read_bytes() == pdf
        assert "Traceback" not in offline.log_path.read_text()
    except Exception:
        shot(page, "failure_documents_offline")
        raise
    finally:
        offline.stop()

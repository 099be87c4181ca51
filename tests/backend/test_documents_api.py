"""Closing an activity through the staff API, the documents generated and cached on the
server, their download by the client (404, ETag/304, file name) and the feed's entries."""

from __future__ import annotations

import base64
import hashlib
import io
from typing import Any

import docx
import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import backend.reports
from backend.core.config import Settings
from backend.document_models import ActivityDocument, GeneratedDocument
from backend.models import FeedEntry
from backend.services import documents
from tests.backend.test_mutations import SIGNATURE, World, build_world, item, push
from tests.backend.test_quotes_api import quote_body, sign_item
from tests.backend.test_reports import camera_photo
from tests.conftest import Clock

STAFF = {"X-Staff-Token": "test-staff-token"}
CLIENT_SIGNATURE = {"strokes": [[[0.2, 0.8], [0.7, 0.2]]]}


@pytest.fixture
def world(db: Session, settings: Settings, clock: Clock) -> World:
    return build_world(db, settings, clock.now)


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file rendered, by format (the cache's misses)."""
    seen: list[str] = []
    real = backend.reports.render

    def counting(document: Any, fmt: str) -> bytes:
        seen.append(fmt)
        return real(document, fmt)

    monkeypatch.setattr(backend.reports, "render", counting)
    return seen


def closure_body(photos: int = 2, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "summary": "Chaudière révisée ; joint remplacé (12,90 €).",
        "work_done": ["Nettoyage du brûleur", "Contrôle CO"],
        "answers": [{"label": "Pression", "value": "1,5 bar"}],
        "photos": [
            {
                "media_type": "image/jpeg",
                "data": base64.b64encode(camera_photo(i, (1200, 900))).decode(),
                "caption": f"Photo {i}",
            }
            for i in range(photos)
        ],
        "technician_signature": SIGNATURE,
        "client_signature": CLIENT_SIGNATURE,
        "client_signer_name": "Alice Martin",
    }
    body.update(overrides)
    return body


def feed_documents(db: Session, activity_id: int) -> list[dict[str, Any]] | None:
    entry = db.scalars(
        select(FeedEntry).where(FeedEntry.kind == "activity", FeedEntry.key == str(activity_id))
    ).one()
    db.commit()
    return (entry.body or {}).get("documents")


async def close(http: httpx.AsyncClient, activity_id: int, **body: Any) -> httpx.Response:
    return await http.post(
        f"/staff/activities/{activity_id}/closure", json=closure_body(**body), headers=STAFF
    )


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(p.extract_text() for p in reader.pages).split())


async def test_closing_generates_the_report_the_client_downloads(
    http, world: World, db: Session, renders: list[str]
) -> None:
    target = world.scheduled
    assert feed_documents(db, target.id) is None
    r = await close(http, target.id)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "done"
    assert answer["closure_report"] == {
        "summary": "Chaudière révisée ; joint remplacé (12,90 €).",
        "work_done": ["Nettoyage du brûleur", "Contrôle CO"],
        "report_pdf": None,
    }
    listed = feed_documents(db, target.id)
    assert listed == answer["documents"]
    assert listed is not None and len(listed) == 1
    report = listed[0]
    assert report["key"] == "report.pdf" and report["kind"] == "report"
    assert report["title"] == "Rapport d'intervention"  # Alice reads French
    assert report["url"] == f"/activities/{target.id}/documents/report.pdf"
    assert report["media_type"] == "application/pdf"
    assert renders == ["pdf"]

    r = await http.get(report["url"], headers=world.auth())
    assert r.status_code == 200
    assert len(r.content) == report["size"]
    assert hashlib.sha256(r.content).hexdigest() == report["sha256"]
    assert r.headers["etag"] == f'"{report["sha256"]}"'
    assert r.headers["content-type"] == "application/pdf"
    assert f'filename="rapport-intervention-{target.id}.pdf"' in r.headers["content-disposition"]
    text = pdf_text(r.content)
    assert "Chaudière révisée ; joint remplacé (12,90 €)." in text
    assert "Nettoyage du brûleur" in text and "Signature du client" in text
    assert sum(len(p.images) for p in PdfReader(io.BytesIO(r.content)).pages) == 4

    # The app already holds it: 304, no bytes.
    again = await http.get(
        report["url"], headers={**world.auth(), "If-None-Match": f'"{report["sha256"]}"'}
    )
    assert again.status_code == 304 and again.content == b""
    # Another client, an unknown key, no session.
    assert (await http.get(report["url"], headers=world.auth(world.bob_token))).status_code == 404
    missing = f"/activities/{target.id}/documents/report.docx"
    assert (await http.get(missing, headers=world.auth())).status_code == 404
    assert (await http.get(report["url"])).status_code == 401
    # Staff read the same bytes.
    staff = await http.get(f"/staff/activities/{target.id}/documents/report.pdf", headers=STAFF)
    assert staff.content == r.content


async def test_closure_refusals(http, world: World, db: Session) -> None:
    r = await close(http, world.scheduled.id, photos=0, summary="")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "summary"]
    bad_photo = closure_body(photos=0)
    bad_photo["photos"] = [{"media_type": "image/png", "data": base64.b64encode(b"nope").decode()}]
    r = await http.post(
        f"/staff/activities/{world.scheduled.id}/closure", json=bad_photo, headers=STAFF
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "photos", 0, "data"]
    r = await close(http, world.scheduled.id, photos=0, client_signature={"strokes": [[[2, 2]]]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "client_signature"]
    r = await close(
        http,
        world.scheduled.id,
        photos=0,
        form={"form_id": world.quote_form.id, "answers": {"accept": "yes"}},
    )
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["detail"]]
    assert ["body", "form", "answers", "accept"] in locs
    assert ["body", "form", "answers", "signature"] in locs  # required
    assert (await close(http, 999_999, photos=0)).status_code == 404
    # Nothing was closed by the refusals.
    assert feed_documents(db, world.scheduled.id) is None

    assert (await close(http, world.scheduled.id, photos=0)).status_code == 200
    r = await close(http, world.scheduled.id, photos=0)
    assert r.status_code == 409
    assert "PATCH /staff/activities" in r.json()["detail"]


async def test_oversized_closure_is_413(http, world: World) -> None:
    r = await http.post(
        f"/staff/activities/{world.scheduled.id}/closure",
        content=b"{" + b" " * (25 * 1024 * 1024) + b"}",
        headers={**STAFF, "Content-Type": "application/json"},
    )
    assert r.status_code == 413


async def test_closure_form_answers_and_both_formats(http, world: World, db: Session) -> None:
    r = await http.patch(
        f"/staff/business-units/{world.alice.business_unit_id}",
        json={"report_formats": "both"},
        headers=STAFF,
    )
    assert r.status_code == 200 and r.json()["report_formats"] == "both"
    answers = {"accept": True, "signature": SIGNATURE}
    r = await close(
        http,
        world.scheduled.id,
        photos=1,
        form={"form_id": world.quote_form.id, "answers": answers},
    )
    assert r.status_code == 200, r.text
    listed = {d["key"]: d for d in r.json()["documents"]}
    assert set(listed) == {"report.pdf", "report.docx"}
    word = await http.get(listed["report.docx"]["url"], headers=world.auth())
    assert word.status_code == 200
    assert hashlib.sha256(word.content).hexdigest() == listed["report.docx"]["sha256"]
    assert word.headers["content-type"].startswith("application/vnd.openxmlformats")
    document = docx.Document(io.BytesIO(word.content))
    text = "\n".join(
        [p.text for p in document.paragraphs]
        + [c.text for t in document.tables for row in t.rows for c in row.cells]
    )
    assert "I accept the quote" in text and "Oui" in text  # the form's label, French yes
    # Photo, the form's signature, the technician's and the client's, the logo-less header.
    assert len(document.inline_shapes) == 4


async def test_cache_hit_and_regeneration_on_a_data_change(
    http, world: World, db: Session, fresh, renders: list[str]
) -> None:
    assert (await close(http, world.scheduled.id, photos=1)).status_code == 200
    first = feed_documents(db, world.scheduled.id)
    assert first is not None and renders == ["pdf"]

    # Nothing changed: nothing rendered, same bytes, same feed document.
    with fresh() as s:
        from backend.core.db import begin_write
        from backend.models import Activity

        begin_write(s)
        assert documents.refresh(s, s.get_one(Activity, world.scheduled.id)) is False
    assert renders == ["pdf"]
    assert feed_documents(db, world.scheduled.id) == first

    # The client reads English now: a new file, an English title and file name.
    r = await http.put("/me/language", json={"language": "en"}, headers=world.auth())
    assert r.status_code == 200
    second = feed_documents(db, world.scheduled.id)
    assert second is not None and renders == ["pdf", "pdf"]
    assert second[0]["title"] == "Intervention report"
    assert second[0]["filename"] == f"intervention-report-{world.scheduled.id}.pdf"
    assert second[0]["sha256"] != first[0]["sha256"]
    r = await http.get(second[0]["url"], headers=world.auth())
    assert hashlib.sha256(r.content).hexdigest() == second[0]["sha256"]
    assert "Intervention report" in pdf_text(r.content)
    # The old version is not kept: one stored file per listed document.
    with fresh() as s:
        assert s.scalar(select(func.count()).select_from(GeneratedDocument)) == 1
        assert s.scalar(select(func.count()).select_from(ActivityDocument)) == 1

    # Back to French: the same content as the first time, its key, its bytes.
    await http.put("/me/language", json={"language": "fr"}, headers=world.auth())
    third = feed_documents(db, world.scheduled.id)
    assert third is not None and third[0]["sha256"] != second[0]["sha256"]
    assert third[0]["title"] == first[0]["title"]


async def test_quote_signed_quote_and_filled_form_are_documents(
    http, world: World, db: Session
) -> None:
    target = world.scheduled
    r = await http.put(f"/staff/activities/{target.id}/quote", json=quote_body(), headers=STAFF)
    assert r.status_code == 200
    listed = feed_documents(db, target.id)
    assert listed is not None and [d["key"] for d in listed] == ["quote.pdf"]
    assert listed[0]["title"] == "Devis n° D2026-00042"
    r = await http.get(listed[0]["url"], headers=world.auth())
    text = pdf_text(r.content)
    assert "Déplacement et diagnostic" in text and "168,41 €" in text

    results = await push(http, world, await sign_item(db, world))
    assert results[0]["status"] == "applied", results
    listed = feed_documents(db, target.id)
    assert listed is not None
    assert [(d["key"], d["kind"]) for d in listed] == [("quote-signed.pdf", "signed_quote")]
    assert listed[0]["filename"] == "devis-D2026-00042-signe.pdf"
    # The activity document the push answered carries the same list.
    assert results[0]["activity"]["documents"] == listed
    r = await http.get(listed[0]["url"], headers=world.auth())
    assert hashlib.sha256(r.content).hexdigest() == listed[0]["sha256"]
    text = pdf_text(r.content)
    assert "Preuve de signature" in text
    assert "Application" in text and "Code à usage unique" in text  # channel, sign-in
    assert results[0]["validation"]["document_sha256"] in "".join(text.split())

    results = await push(http, world, item(target))  # the access form, filled
    assert results[0]["status"] == "applied", results
    listed = feed_documents(db, target.id)
    assert listed is not None
    form = next(d for d in listed if d["kind"] == "form")
    assert form["key"] == "form-access.pdf" and form["title"] == "Access"
    r = await http.get(form["url"], headers=world.auth())
    text = pdf_text(r.content)
    assert "Door code" in text and "12A34" in text

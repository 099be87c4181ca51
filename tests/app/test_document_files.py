"""Kept document files (app.documents): what the feed announces, the size budget,
least-recently-used eviction, newer versions and removed documents, sign-out."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.documents import DocumentFiles, DocumentRef, describe, document_refs, size_text
from app.i18n import Translator
from app.sync.engine import open_store
from app.sync.store import Store

PDF = "application/pdf"


def entry(key: str, data: bytes, **over: object) -> dict[str, object]:
    raw: dict[str, object] = {
        "key": key,
        "kind": "report",
        "title": "Compte-rendu d'intervention",
        "url": f"/activities/7/documents/{key}",
        "media_type": PDF,
        "filename": f"{key}",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "updated_at": "2026-12-03T09:30:00Z",
    }
    raw.update(over)
    return raw


def ref(key: str, data: bytes, activity_id: str = "7") -> DocumentRef:
    found = document_refs({"id": int(activity_id), "documents": [entry(key, data)]})
    assert len(found) == 1
    return found[0]


class Ticks:
    """A clock that moves one second per reading (orders "last used")."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def files(tmp_path: Path) -> DocumentFiles:
    store = open_store(tmp_path / "cache.sqlite3")
    return DocumentFiles(store, budget_bytes=1000, clock=Ticks())


def test_entries_that_are_not_safe_to_download_are_left_out() -> None:
    good = entry("report.pdf", b"x")
    activity = {
        "id": 7,
        "documents": [
            good,
            entry("a", b"x", url="https://elsewhere.example/a.pdf"),  # token would leak
            entry("b", b"x", url="//elsewhere.example/b.pdf"),
            entry("c", b"x", size=-1),
            entry("d", b"x", size=True),
            entry("e", b"x", sha256=""),
            "not an object",
        ],
    }
    assert [r.key for r in document_refs(activity)] == ["report.pdf"]
    assert document_refs({"id": 7}) == []
    assert document_refs({"id": 7, "documents": {"report": good}}) == []


def test_reports_come_before_quotes_and_forms() -> None:
    activity = {
        "id": 3,
        "documents": [
            entry("form-survey.pdf", b"1", kind="form"),
            entry("quote.pdf", b"2", kind="quote"),
            entry("report.docx", b"3", kind="report"),
            entry("report.pdf", b"4", kind="report"),
        ],
    }
    assert [r.key for r in document_refs(activity)] == [
        "report.docx",
        "report.pdf",
        "quote.pdf",
        "form-survey.pdf",
    ]


def test_rows_read_in_the_clients_language() -> None:
    tr = Translator()
    tr.set_language("fr")
    tr.set_timezone("Europe/Paris")
    row = describe(tr, ref("report.pdf", b"x" * 250_000), offline=True, activity_title="Entretien")
    assert row.detail == "PDF · 244 ko · jeu. 3 déc. 2026"
    tr.set_language("en")
    row = describe(tr, ref("report.docx", b"x" * 900), offline=False, activity_title="Service")
    assert row.detail == "PDF · 1 kB · Thu, Dec 3, 2026"
    assert size_text(tr, 3 * 1024 * 1024 + 200_000) == "3.2 MB"


def test_a_kept_file_opens_only_as_the_version_announced(files: DocumentFiles) -> None:
    old = ref("report.pdf", b"old version")
    assert files.read(old) is None
    assert files.keep(old, b"old version", old.sha256)
    assert files.read(old) == b"old version"
    new = ref("report.pdf", b"new version")
    assert files.read(new) is None  # the feed announced a newer one: not the old bytes
    assert files.keep(new, b"new version", new.sha256)
    assert files.read(new) == b"new version"
    # One file per (activity, key): the newer replaced the older.
    assert files.kept() == {("7", "report.pdf"): new.sha256}


def test_the_budget_lets_the_least_recently_opened_go(files: DocumentFiles) -> None:
    a, b, c = (ref(name, name.encode() * 100) for name in ("a.pdf", "b.pdf", "c.pdf"))
    # 500 bytes each with a 1000-byte budget: two fit.
    files.keep(a, b"a" * 500, a.sha256)
    files.keep(b, b"b" * 500, b.sha256)
    files.read(a)  # a was opened after b
    files.keep(c, b"c" * 500, c.sha256)
    assert set(files.kept()) == {("7", "a.pdf"), ("7", "c.pdf")}
    big = ref("big.pdf", b"z")
    assert not files.keep(big, b"z" * 1001, big.sha256)  # larger than the budget
    assert set(files.kept()) == {("7", "a.pdf"), ("7", "c.pdf")}


def test_after_a_sync_removed_documents_go_and_changed_ones_are_named(
    files: DocumentFiles,
) -> None:
    kept_same, kept_changed, kept_gone = (ref(k, k.encode()) for k in ("s.pdf", "c.pdf", "g.pdf"))
    for r in (kept_same, kept_changed, kept_gone):
        files.keep(r, r.key.encode(), r.sha256)
    newer = ref("c.pdf", b"changed on the server")
    stale = files.reconcile(
        {("7", "s.pdf"): kept_same, ("7", "c.pdf"): newer, ("8", "other.pdf"): ref("o", b"o")}
    )
    assert stale == [newer]
    assert set(files.kept()) == {("7", "s.pdf"), ("7", "c.pdf")}


def test_sign_out_wipes_kept_files(tmp_path: Path) -> None:
    store: Store = open_store(tmp_path / "cache.sqlite3")
    files = DocumentFiles(store, budget_bytes=10_000, clock=Ticks())
    r = ref("report.pdf", b"private report")
    files.keep(r, b"private report", r.sha256)
    store.clear()
    assert files.kept() == {}
    store.close()
    # Nothing of the report is left in the file after the VACUUM.
    assert b"private report" not in (tmp_path / "cache.sqlite3").read_bytes()

"""The documents a client gets, composed in the client's language from plain facts.

Pure (no web, database or screen): ``backend.services.documents`` reads the
database and hands these functions plain values; the result is a
:class:`~backend.reports.content.Document` any renderer takes. Dates are
shown in the business unit's time zone, amounts and numbers as the
language writes them (Babel, ``backend.localization``); the company's own
words (summaries, labels, form names) stay as staff wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from backend import forms
from backend.localization import format_datetime, language
from backend.quotes import format_day, format_quantity, quote_view
from backend.reports.content import (
    Block,
    Branding,
    Bullets,
    Document,
    Fields,
    Heading,
    Paragraph,
    Photo,
    Photos,
    Signature,
    Signatures,
    Table,
)
from backend.reports.photos import PhotoError, prepare_photo

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "report": "Rapport d'intervention",
        "subtitle": "{type} · intervention n° {reference}",
        "client": "Client",
        "site": "Adresse d'intervention",
        "visit": "Date de l'intervention",
        "closed": "Clôturée le",
        "technician": "Technicien",
        "summary": "Résumé",
        "work_done": "Travaux réalisés",
        "answers": "Relevés et contrôles",
        "photos": "Photos",
        "signatures": "Signatures",
        "technician_signature": "Signature du technicien",
        "client_signature": "Signature du client",
        "quote": "Devis n° {number}",
        "signed_quote": "Devis n° {number} signé",
        "issued": "Émis le",
        "valid_until": "Valable jusqu'au",
        "label": "Désignation",
        "quantity": "Qté",
        "unit_price": "PU HT",
        "tax_rate": "TVA",
        "line_total": "Total HT",
        "subtotal": "Total HT",
        "tax": "TVA {rate} sur {base}",
        "total": "Total TTC",
        "note": "Remarque",
        "evidence": "Preuve de signature",
        "signed_at": "Signé le",
        "signer": "Signataire",
        "channel": "Canal",
        "method": "Connexion",
        "hash": "Empreinte du document signé (SHA-256)",
        "channel.app": "Application",
        "channel.web": "Navigateur web",
        "method.code": "Code à usage unique",
        "method.sms": "Lien SMS",
        "method.permanent": "Lien permanent",
        "sent_at": "Envoyé le",
        "version": "Version",
        "your_answers": "Réponses",
        "signed_suffix": "{name} (signé)",
        "yes": "Oui",
        "no": "Non",
        "signature": "Signature",
        "file.report": "rapport-intervention-{reference}",
        "file.quote": "devis-{number}",
        "file.signed_quote": "devis-{number}-signe",
        "file.form": "formulaire-{name}-{reference}",
    },
    "en": {
        "report": "Intervention report",
        "subtitle": "{type} · intervention no. {reference}",
        "client": "Client",
        "site": "Site",
        "visit": "Date of the visit",
        "closed": "Closed on",
        "technician": "Technician",
        "summary": "Summary",
        "work_done": "Work done",
        "answers": "Readings and checks",
        "photos": "Photos",
        "signatures": "Signatures",
        "technician_signature": "Technician's signature",
        "client_signature": "Client's signature",
        "quote": "Quote {number}",
        "signed_quote": "Signed quote {number}",
        "issued": "Issued on",
        "valid_until": "Valid until",
        "label": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "tax_rate": "VAT",
        "line_total": "Total excl. tax",
        "subtotal": "Total excl. tax",
        "tax": "VAT {rate} on {base}",
        "total": "Total incl. tax",
        "note": "Note",
        "evidence": "Signature evidence",
        "signed_at": "Signed on",
        "signer": "Signed by",
        "channel": "Channel",
        "method": "Sign-in",
        "hash": "Fingerprint of the signed document (SHA-256)",
        "channel.app": "App",
        "channel.web": "Web browser",
        "method.code": "One-time code",
        "method.sms": "SMS link",
        "method.permanent": "Permanent link",
        "sent_at": "Sent on",
        "version": "Version",
        "your_answers": "Answers",
        "signed_suffix": "{name} (signed)",
        "yes": "Yes",
        "no": "No",
        "signature": "Signature",
        "file.report": "intervention-report-{reference}",
        "file.quote": "quote-{number}",
        "file.signed_quote": "quote-{number}-signed",
        "file.form": "form-{name}-{reference}",
    },
}


def words(lang: str | None) -> dict[str, str]:
    """The sentence table of ``lang`` (English for a language without one)."""
    return WORDS[language(lang)]


@dataclass(frozen=True)
class Facts:
    """What every document of an activity says about it."""

    language: str
    timezone: str
    branding: Branding
    reference: str
    type_name: str
    client_name: str
    site: str
    technician: str = ""
    visit_at: datetime | None = None


@dataclass(frozen=True)
class Evidence:
    """The evidence trail of a signature (from the validation event)."""

    signed_at: datetime
    document_sha256: str
    signer_contact: str = ""
    channel: str = ""
    method: str = ""
    signature: Mapping[str, Any] | None = None


def slug(text: str, fallback: str = "document") -> str:
    """A file-name part every disk and browser accepts (``Devis D-42`` -> ``Devis-D-42``)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return cleaned[:60] or fallback


def filename(lang: str, key: str, extension: str, **values: str) -> str:
    """The file name a download gets, in the reader's language."""
    stem = words(lang)[f"file.{key}"].format(**{k: slug(v) for k, v in values.items()})
    return f"{stem}.{extension}"


def _when(moment: datetime | None, facts: Facts) -> str:
    return format_datetime(moment, facts.language, facts.timezone) if moment else ""


def _about(facts: Facts, w: dict[str, str], closed_at: datetime | None = None) -> Fields:
    rows = [(w["client"], facts.client_name), (w["site"], facts.site)]
    if facts.visit_at is not None:
        rows.append((w["visit"], _when(facts.visit_at, facts)))
    if closed_at is not None:
        rows.append((w["closed"], _when(closed_at, facts)))
    if facts.technician:
        rows.append((w["technician"], facts.technician))
    return Fields(tuple(rows))


def _subtitle(facts: Facts, w: dict[str, str]) -> str:
    return w["subtitle"].format(type=facts.type_name, reference=facts.reference)


def _footer(facts: Facts, title: str) -> str:
    return f"{facts.branding.name} · {title}"


@lru_cache(maxsize=64)
def _prepared(data: bytes) -> tuple[bytes, int, int] | None:
    # Cached: refreshing an activity's documents composes them again to
    # compare content keys, and a form's photos would otherwise be re-encoded.
    try:
        return prepare_photo(data)
    except PhotoError:
        return None


def _evidence_fields(evidence: Evidence, facts: Facts, w: dict[str, str]) -> Fields:
    contact = evidence.signer_contact.split(":", 1)[-1]
    rows = [(w["signed_at"], _when(evidence.signed_at, facts))]
    if contact:
        rows.append((w["signer"], contact))
    if evidence.channel:
        rows.append((w["channel"], w.get(f"channel.{evidence.channel}", evidence.channel)))
    if evidence.method:
        rows.append((w["method"], w.get(f"method.{evidence.method}", evidence.method)))
    rows.append((w["hash"], evidence.document_sha256))
    return Fields(tuple(rows))


# --- the intervention report ------------------------------------------------------------


def report_document(facts: Facts, closure: Mapping[str, Any], closed_at: datetime) -> Document:
    """The intervention report of a closed activity.

    ``closure`` is what ``backend.services.closure`` stored, photos decoded:
    ``summary``, ``work_done``, ``answers`` (label/value), ``form``
    (``{"name", "fields", "answers"}`` of a closure form), ``photos`` (prepared
    JPEGs as ``{"data": bytes, "width", "height", "caption"}``) and
    ``signatures`` (``[{"role": "technician" | "client", "strokes", "name"}]``).
    """
    w = words(facts.language)
    blocks: list[Block] = [_about(facts, w, closed_at)]
    if closure.get("summary"):
        blocks += [Heading(w["summary"]), Paragraph(str(closure["summary"]))]
    if closure.get("work_done"):
        blocks += [Heading(w["work_done"]), Bullets(tuple(str(x) for x in closure["work_done"]))]
    rows = [(str(a["label"]), str(a["value"])) for a in closure.get("answers") or []]
    photos = [
        Photo(p["data"], int(p["width"]), int(p["height"]), str(p.get("caption") or ""))
        for p in closure.get("photos") or []
    ]
    signatures = [
        Signature(w[f"{s['role']}_signature"], dict(s["strokes"]), str(s.get("name") or ""))
        for s in closure.get("signatures") or []
    ]
    form = closure.get("form")
    if form:
        more_rows, more_photos, more_signatures = _answer_parts(
            form.get("fields") or [], form.get("answers") or {}, facts, ""
        )
        rows += more_rows
        photos += more_photos
        signatures[:0] = more_signatures
    if rows:
        blocks += [Heading(w["answers"]), Fields(tuple(rows))]
    if photos:
        blocks += [Heading(w["photos"]), Photos(tuple(photos))]
    if signatures:
        blocks += [Heading(w["signatures"]), Signatures(tuple(signatures))]
    return Document(
        language=facts.language,
        title=w["report"],
        subtitle=_subtitle(facts, w),
        branding=facts.branding,
        blocks=tuple(blocks),
        issued_at=closed_at,
        footer=_footer(facts, f"{w['report']} {facts.reference}"),
    )


# --- quotes -----------------------------------------------------------------------------


def quote_title(lang: str, number: str, signed: bool) -> str:
    """``Devis n° D-42`` / ``Signed quote D-42``."""
    return words(lang)["signed_quote" if signed else "quote"].format(number=number)


def quote_document(
    facts: Facts, quote: Mapping[str, Any], evidence: Evidence | None = None
) -> Document:
    """A quote (``backend.quotes.quote_document``) with its lines, taxes and totals as
    issued; with ``evidence``, the signed version carrying its signature and trail."""
    w = words(facts.language)
    view = quote_view(quote, facts.language)
    title = quote_title(facts.language, view.number, evidence is not None)
    about = _about(facts, w)
    dates = ((w["issued"], view.issued_on), (w["valid_until"], view.valid_until))
    rows = tuple(
        (
            line.label,
            f"{line.quantity} {line.unit}" if line.unit else line.quantity,
            line.unit_price,
            line.tax_rate,
            line.total,
        )
        for line in view.lines
    )
    totals = (
        (w["subtotal"], view.subtotal),
        *((w["tax"].format(rate=t.rate, base=t.base), t.amount) for t in view.taxes),
        (w["total"], view.total),
    )
    blocks: list[Block] = [
        Fields(about.rows + dates),
        Table(
            columns=(w["label"], w["quantity"], w["unit_price"], w["tax_rate"], w["line_total"]),
            rows=rows,
            widths=(0.44, 0.12, 0.16, 0.10, 0.18),
            align=("L", "R", "R", "R", "R"),
            totals=totals,
        ),
    ]
    if view.note:
        blocks += [Heading(w["note"]), Paragraph(view.note)]
    if evidence is not None:
        if evidence.signature:
            signature = Signature(
                w["client_signature"], dict(evidence.signature), facts.client_name
            )
            blocks += [Heading(w["signatures"]), Signatures((signature,))]
        blocks += [Heading(w["evidence"]), _evidence_fields(evidence, facts, w)]
    return Document(
        language=facts.language,
        title=title,
        subtitle=_subtitle(facts, w),
        branding=facts.branding,
        blocks=tuple(blocks),
        issued_at=evidence.signed_at if evidence else None,
        footer=_footer(facts, title),
    )


# --- forms ------------------------------------------------------------------------------


def answer_text(spec: Mapping[str, Any], value: Any, lang: str) -> str:
    """One answer as text in ``lang`` (photos and signatures are shown as images)."""
    w = words(lang)
    kind = spec.get("type")
    if kind == "yes_no":
        return w["yes"] if value else w["no"]
    if kind == "date" and isinstance(value, str):
        try:
            return format_day(date.fromisoformat(value), lang)
        except ValueError:
            return value
    if kind == "choice" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if kind in ("number", "rating") and isinstance(value, int | float):
        text = format_quantity(Decimal(str(value)), lang)
        if kind == "rating":
            return f"{text}/{int(spec.get('max') or 5)}"
        return text
    return str(value)


def _answer_parts(
    fields: Sequence[Mapping[str, Any]], answers: Mapping[str, Any], facts: Facts, signer: str
) -> tuple[list[tuple[str, str]], list[Photo], list[Signature]]:
    """A form's answers as label/value rows, photos and signatures, in the field order."""
    rows: list[tuple[str, str]] = []
    photos: list[Photo] = []
    signatures: list[Signature] = []
    for spec in fields:
        key, kind = spec.get("key"), spec.get("type")
        value = answers.get(str(key))
        label = str(spec.get("label") or key)
        if kind not in forms.ANSWERABLE_TYPES or forms.is_missing(value):
            continue
        if kind == "photo":
            raw = forms.decode_photo(value)
            prepared = _prepared(raw) if raw else None
            if prepared is not None:
                photos.append(Photo(prepared[0], prepared[1], prepared[2], label))
        elif kind == "signature":
            signatures.append(Signature(label, dict(value), signer))
        else:
            rows.append((label, answer_text(spec, value, facts.language)))
    return rows, photos, signatures


def form_title(lang: str, name: str, signed: bool) -> str:
    """The form's name, marked signed when it was."""
    return words(lang)["signed_suffix"].format(name=name) if signed else name


def form_document(
    facts: Facts,
    form_name: str,
    fields: Sequence[Mapping[str, Any]],
    answers: Mapping[str, Any],
    sent_at: datetime,
    version: int,
    evidence: Evidence | None = None,
) -> Document:
    """A form the company made, as the client filled it (and signed it, with ``evidence``)."""
    w = words(facts.language)
    rows, photos, signatures = _answer_parts(fields, answers, facts, facts.client_name)
    title = form_title(facts.language, form_name, evidence is not None)
    about = _about(facts, w)
    blocks: list[Block] = [
        Fields(about.rows + ((w["sent_at"], _when(sent_at, facts)), (w["version"], str(version))))
    ]
    if rows:
        blocks += [Heading(w["your_answers"]), Fields(tuple(rows))]
    if photos:
        blocks += [Heading(w["photos"]), Photos(tuple(photos))]
    if signatures:
        blocks += [Heading(w["signatures"]), Signatures(tuple(signatures))]
    if evidence is not None:
        blocks += [Heading(w["evidence"]), _evidence_fields(evidence, facts, w)]
    return Document(
        language=facts.language,
        title=title,
        subtitle=_subtitle(facts, w),
        branding=facts.branding,
        blocks=tuple(blocks),
        issued_at=sent_at,
        footer=_footer(facts, title),
    )

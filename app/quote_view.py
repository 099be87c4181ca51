"""The quote section of a document to validate, as texts ready to render.

No Flet and no I/O: from a synced activity document (its ``quote``, see
``backend.services.projection.quote_doc``) and the app's language, every line,
tax and total as text, formatted by Babel through ``backend.quotes`` (the
same code the server's PDF uses) and labelled through the app's catalogs.

The figures are the document's own, never recomputed: they are what the
client's signature covers (``backend.forms.document_for``). A quote this app
cannot read is shown as a sentence instead of figures, with ``readable``
false, so that nobody signs what they could not see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.documents import size_text
from app.i18n import Translator
from backend.quotes import QuoteError, quote_view


@dataclass(frozen=True)
class QuoteColumns:
    """The column headings of the lines table."""

    label: str
    quantity: str
    unit_price: str
    tax_rate: str
    total: str


@dataclass(frozen=True)
class QuoteLineRow:
    """One line: ``quantity`` includes the unit (``1,5 h``); amounts excluding tax."""

    label: str
    quantity: str
    unit_price: str
    tax_rate: str
    total: str


@dataclass(frozen=True)
class QuoteTaxRow:
    """``VAT 20 % on €1,234.50`` and its amount."""

    label: str
    amount: str


@dataclass(frozen=True)
class QuotePdf:
    """The quote's PDF: where the API serves it (``/activities/{id}/quote.pdf``) and a link text."""

    path: str
    size: str
    label: str
    sha256: str


@dataclass(frozen=True)
class QuoteScreen:
    """Everything the quote section shows.

    When not ``readable``, ``problem`` is the sentence to show instead of the figures.
    """

    readable: bool
    title: str
    issued: str
    valid_until: str
    expired: bool
    columns: QuoteColumns
    lines: tuple[QuoteLineRow, ...]
    subtotal_label: str
    subtotal: str
    taxes: tuple[QuoteTaxRow, ...]
    total_label: str
    total: str
    note: str | None
    pdf: QuotePdf | None
    problem: str | None


def has_quote(activity: Mapping[str, Any]) -> bool:
    """True when the synced activity carries a quote."""
    return activity.get("quote") is not None


def _pdf(tr: Translator, entry: Any) -> QuotePdf | None:
    if not isinstance(entry, Mapping):
        return None
    path, size = entry.get("url"), entry.get("size")
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    text = size_text(tr, size)
    sha256 = entry.get("sha256")
    return QuotePdf(
        path=path,
        size=text,
        label=tr.t("quote.pdf.open", size=text),
        sha256=sha256 if isinstance(sha256, str) else "",
    )


def _columns(tr: Translator) -> QuoteColumns:
    return QuoteColumns(
        label=tr.t("quote.column.label"),
        quantity=tr.t("quote.column.quantity"),
        unit_price=tr.t("quote.column.unit_price"),
        tax_rate=tr.t("quote.column.tax_rate"),
        total=tr.t("quote.column.total"),
    )


def quote_screen(
    activity: Mapping[str, Any], language: str, today: date | None = None
) -> QuoteScreen | None:
    """The quote of a synced activity document in ``language``; None when it has none.

    ``today`` (the device's date by default) decides ``expired``; the server
    does not refuse an expired quote, the screen only says so.
    """
    raw = activity.get("quote")
    if raw is None:
        return None
    tr = Translator(language)
    columns = _columns(tr)
    try:
        if not isinstance(raw, Mapping):
            raise QuoteError([])
        view = quote_view(raw, tr.language)
    except QuoteError:
        return QuoteScreen(
            readable=False,
            title=tr.t("quote.title.unknown"),
            issued="",
            valid_until="",
            expired=False,
            columns=columns,
            lines=(),
            subtotal_label=tr.t("quote.subtotal"),
            subtotal="",
            taxes=(),
            total_label=tr.t("quote.total"),
            total="",
            note=None,
            pdf=None,
            problem=tr.t("quote.unreadable"),
        )
    expired = (today or date.today()) > view.valid_until_date
    return QuoteScreen(
        readable=True,
        title=tr.t("quote.title", number=view.number),
        issued=tr.t("quote.issued_on", date=view.issued_on),
        valid_until=tr.t(
            "quote.expired" if expired else "quote.valid_until", date=view.valid_until
        ),
        expired=expired,
        columns=columns,
        lines=tuple(
            QuoteLineRow(
                label=line.label,
                quantity=f"{line.quantity}\u00a0{line.unit}" if line.unit else line.quantity,
                unit_price=line.unit_price,
                tax_rate=line.tax_rate,
                total=line.total,
            )
            for line in view.lines
        ),
        subtotal_label=tr.t("quote.subtotal"),
        subtotal=view.subtotal,
        taxes=tuple(
            QuoteTaxRow(label=tr.t("quote.tax", rate=tax.rate, base=tax.base), amount=tax.amount)
            for tax in view.taxes
        ),
        total_label=tr.t("quote.total"),
        total=view.total,
        note=view.note,
        pdf=_pdf(tr, raw.get("pdf")),
        problem=None,
    )

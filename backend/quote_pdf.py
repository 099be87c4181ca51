"""A quote printed as a minimal one-page PDF (the demo's attachments, tests).

Pure (no web, database or screen): PDF 1.4 text objects in the standard
Helvetica font, so nothing is embedded and every reader shows it. Text is
encoded as WinAnsi (cp1252), which holds French accents, ``œ`` and ``€``;
anything else becomes ``?``. Lines that do not fit on the page are left out
and counted in a last line: the PDF is a courtesy copy, the synced document
is what the client signs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.quotes import quote_view

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 50
LABEL_CHARS = 48
LINE_HEIGHT = 14
_WORDS = {
    "fr": {
        "quote": "Devis n° {number}",
        "issued": "Émis le {date}, valable jusqu'au {until}",
        "label": "Désignation",
        "quantity": "Qté",
        "unit_price": "PU HT",
        "tax_rate": "TVA",
        "total": "Total HT",
        "subtotal": "Total HT",
        "tax": "TVA {rate} sur {base}",
        "grand_total": "Total TTC",
        "more": "… et {count} autres lignes",
    },
    "en": {
        "quote": "Quote {number}",
        "issued": "Issued on {date}, valid until {until}",
        "label": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "tax_rate": "VAT",
        "total": "Total excl. tax",
        "subtotal": "Total excl. tax",
        "tax": "VAT {rate} on {base}",
        "grand_total": "Total incl. tax",
        "more": "… and {count} more lines",
    },
}


def _pdf_text(text: str) -> bytes:
    raw = text.replace("\u00a0", " ").encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


class _Page:
    """Text placed at absolute positions, as a content stream."""

    def __init__(self) -> None:
        self.ops: list[bytes] = []

    def text(self, x: float, y: float, value: str, size: int = 10, bold: bool = False) -> None:
        font = b"/F2" if bold else b"/F1"
        self.ops.append(
            b"BT %s %d Tf %.1f %.1f Td (%s) Tj ET" % (font, size, x, y, _pdf_text(value))
        )

    def right(self, x: float, y: float, value: str, size: int = 10, bold: bool = False) -> None:
        # Helvetica digits are 0.556 em wide; close enough to right-align figures.
        self.text(x - len(value) * size * 0.53, y, value, size, bold)

    def rule(self, y: float) -> None:
        self.ops.append(b"%d %.1f m %d %.1f l S" % (MARGIN, y, PAGE_WIDTH - MARGIN, y))


def _assemble(content: bytes) -> bytes:
    """The PDF file around one page's content stream (objects, cross-reference table)."""
    fonts = b"<< /F1 5 0 R /F2 6 0 R >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font %s >> "
        b"/Contents 4 0 R >>" % (PAGE_WIDTH, PAGE_HEIGHT, fonts),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def render_quote_pdf(document: Mapping[str, Any], company: str, locale: str = "fr") -> bytes:
    """A one-page PDF of a quote document (``backend.quotes.quote_document``).

    Figures are formatted like the app shows them (``quote_view``); words in
    French or English after ``locale``. Raises ``QuoteError`` for a
    malformed document.
    """
    view = quote_view(document, locale)
    words = _WORDS["fr" if locale.lower().startswith("fr") else "en"]
    page = _Page()
    right_edge = PAGE_WIDTH - MARGIN
    y = PAGE_HEIGHT - MARGIN
    page.text(MARGIN, y, company, 14, bold=True)
    y -= 28
    page.text(MARGIN, y, words["quote"].format(number=view.number), 13, bold=True)
    y -= 18
    page.text(MARGIN, y, words["issued"].format(date=view.issued_on, until=view.valid_until))
    y -= 28
    columns = (("quantity", 340), ("unit_price", 410), ("tax_rate", 450), ("total", right_edge))
    page.text(MARGIN, y, words["label"], bold=True)
    for key, x in columns:
        page.right(x, y, words[key], bold=True)
    y -= 6
    page.rule(y)
    y -= LINE_HEIGHT
    # Below the lines: subtotal, one line per tax rate, total and the note.
    below = (3 + len(view.taxes) + (2 if view.note else 0)) * LINE_HEIGHT
    room = int((y - MARGIN - below) // LINE_HEIGHT)
    shown = view.lines if len(view.lines) <= room else view.lines[: max(room - 1, 0)]
    for line in shown:
        label = line.label if len(line.label) <= LABEL_CHARS else line.label[: LABEL_CHARS - 1]
        page.text(MARGIN, y, label + ("…" if label != line.label else ""), 9)
        quantity = f"{line.quantity} {line.unit}" if line.unit else line.quantity
        for value, (_, x) in zip(
            (quantity, line.unit_price, line.tax_rate, line.total), columns, strict=True
        ):
            page.right(x, y, value, 9)
        y -= LINE_HEIGHT
    if len(shown) < len(view.lines):
        page.text(MARGIN, y, words["more"].format(count=len(view.lines) - len(shown)), 9)
        y -= LINE_HEIGHT
    page.rule(y + LINE_HEIGHT - 4)
    y -= 6
    page.text(330, y, words["subtotal"])
    page.right(right_edge, y, view.subtotal)
    for tax in view.taxes:
        y -= LINE_HEIGHT
        page.text(330, y, words["tax"].format(rate=tax.rate, base=tax.base))
        page.right(right_edge, y, tax.amount)
    y -= LINE_HEIGHT + 4
    page.text(330, y, words["grand_total"], 11, bold=True)
    page.right(right_edge, y, view.total, 11, bold=True)
    if view.note:
        y -= 2 * LINE_HEIGHT
        page.text(MARGIN, y, view.note[:110], 9)
    return _assemble(b"\n".join(page.ops))

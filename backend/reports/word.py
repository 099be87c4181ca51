"""A :class:`~backend.reports.content.Document` rendered as a Word file (.docx, python-docx).

Pure (no web or database). The same blocks as the PDF: branding at the top,
tables for label/value rows, quote lines and photos, signatures drawn from
their strokes. The file's dates come from the document, so the same content
gives the same bytes.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from docx import Document as new_document
from docx.document import Document as WordDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt, RGBColor

from backend.reports.content import (
    Block,
    Bullets,
    Document,
    Fields,
    Heading,
    Paragraph,
    Photos,
    Signatures,
    Table,
)
from backend.signature_image import render_png

MUTED = RGBColor(100, 100, 100)
TEXT_WIDTH_CM = 17.0
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _muted(paragraph, text: str, size: float = 9) -> None:  # type: ignore[no-untyped-def]
    run = paragraph.add_run(text)
    run.font.size = Pt(size)
    run.font.color.rgb = MUTED


def _header(doc: WordDocument, document: Document) -> None:
    brand = document.branding
    if brand.logo:
        doc.add_picture(io.BytesIO(brand.logo), height=Cm(1.6))
    name = doc.add_paragraph()
    run = name.add_run(brand.name)
    run.bold = True
    run.font.size = Pt(13)
    for line in (brand.address, "   ".join(v for v in (brand.phone, brand.email) if v)):
        if line:
            _muted(doc.add_paragraph(), line, 8.5)
    doc.add_heading(document.title, level=0)
    if document.subtitle:
        _muted(doc.add_paragraph(), document.subtitle, 10)


def _fields(doc: WordDocument, block: Fields) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in block.rows:
        cells = table.add_row().cells
        cells[0].width, cells[1].width = Cm(5.5), Cm(TEXT_WIDTH_CM - 5.5)
        cells[0].paragraphs[0].add_run(label).bold = True
        cells[1].paragraphs[0].add_run(value or "–")
    doc.add_paragraph()


def _bullets(doc: WordDocument, block: Bullets) -> None:
    for item in block.items:
        doc.add_paragraph(item, style="List Bullet")


def _table(doc: WordDocument, block: Table) -> None:
    table = doc.add_table(rows=1, cols=len(block.columns))
    table.style = "Table Grid"
    for cell, name, align in zip(table.rows[0].cells, block.columns, block.align, strict=True):
        cell.paragraphs[0].add_run(name).bold = True
        if align == "R":
            cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for values in block.rows:
        cells = table.add_row().cells
        for cell, value, align, width in zip(cells, values, block.align, block.widths, strict=True):
            cell.width = Cm(TEXT_WIDTH_CM * width)
            cell.paragraphs[0].add_run(value)
            if align == "R":
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for index, (label, amount) in enumerate(block.totals):
        line = doc.add_paragraph()
        line.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        run = line.add_run(f"{label}   {amount}")
        run.bold = index == len(block.totals) - 1
    doc.add_paragraph()


def _photos(doc: WordDocument, block: Photos) -> None:
    items = list(block.items)
    table = doc.add_table(rows=0, cols=2)
    for start in range(0, len(items), 2):
        cells = table.add_row().cells
        for cell, photo in zip(cells, items[start : start + 2], strict=False):
            height_cm = min(6.5, 8.0 * photo.height / max(photo.width, 1))
            width_cm = height_cm * photo.width / max(photo.height, 1)
            run = cell.paragraphs[0].add_run()
            run.add_picture(io.BytesIO(photo.data), width=Cm(width_cm))
            if photo.caption:
                _muted(cell.add_paragraph(), photo.caption, 8.5)
    doc.add_paragraph()


def _signatures(doc: WordDocument, block: Signatures) -> None:
    table = doc.add_table(rows=0, cols=2)
    items = list(block.items)
    for start in range(0, len(items), 2):
        cells = table.add_row().cells
        for cell, item in zip(cells, items[start : start + 2], strict=False):
            cell.paragraphs[0].add_run(item.label).bold = True
            png = render_png(item.strokes, width=500, height=200)
            cell.add_paragraph().add_run().add_picture(io.BytesIO(png), width=Cm(7.5))
            if item.caption:
                _muted(cell.add_paragraph(), item.caption, 8.5)
    doc.add_paragraph()


def _render_block(doc: WordDocument, block: Block) -> None:
    if isinstance(block, Heading):
        doc.add_heading(block.text, level=2)
    elif isinstance(block, Paragraph):
        doc.add_paragraph(block.text)
    elif isinstance(block, Fields):
        _fields(doc, block)
    elif isinstance(block, Bullets):
        _bullets(doc, block)
    elif isinstance(block, Table):
        _table(doc, block)
    elif isinstance(block, Photos):
        _photos(doc, block)
    elif isinstance(block, Signatures):
        _signatures(doc, block)


def render_docx(document: Document) -> bytes:
    """The .docx file of ``document`` (A4 margins, the same blocks as the PDF)."""
    doc = new_document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2)
    section.top_margin = section.bottom_margin = Cm(1.8)
    if document.footer:
        _muted(section.footer.paragraphs[0], document.footer, 8)
    props = doc.core_properties
    props.title = document.title
    props.author = document.branding.name
    props.last_modified_by = document.branding.name
    props.language = document.language
    moment = (document.issued_at or _EPOCH).astimezone(UTC).replace(tzinfo=None)
    props.created = props.modified = moment
    props.revision = 1
    _header(doc, document)
    for block in document.blocks:
        _render_block(doc, block)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()

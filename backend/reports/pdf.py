"""A :class:`~backend.reports.content.Document` rendered as PDF with fpdf2.

Pure (no web or database). Text is set in DejaVu Sans, embedded (subset) so
accents, ``œ``, ``€`` and the no-break spaces of French numbers show in every
reader; the fonts come from the system (Debian's ``fonts-dejavu-core``) or
``backend/fonts/``. Without them the core Helvetica font is used, with the
text reduced to Latin-1 (``€`` becomes ``EUR``). Photos are embedded as the
JPEGs they are (no re-encoding); signatures are drawn from their strokes.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, XPos, YPos

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

_FONT_DIRS = (
    Path(__file__).resolve().parents[1] / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
)
FAMILY = "DejaVu"
INK = (33, 33, 33)
MUTED = (100, 100, 100)
RULE = (190, 190, 190)
LINE = 5.2  # mm per line of body text


@lru_cache(maxsize=1)
def font_files() -> tuple[Path, Path] | None:
    """(regular, bold) DejaVu Sans files, or None when neither place has them."""
    for folder in _FONT_DIRS:
        regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


class _Pdf(FPDF):
    footer_text = ""
    unicode = True

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.font_family, "", 8)
        self.set_text_color(*MUTED)
        self.cell(0, 5, self.text_of(f"{self.footer_text}    {self.page_no()}/{{nb}}"), align="R")

    def text_of(self, text: str) -> str:
        """``text`` as the current font can set it."""
        text = text.replace("\u202f", "\u00a0").replace("\u2009", " ")
        if self.unicode:
            return text
        return text.replace("€", "EUR").encode("latin-1", "replace").decode("latin-1")


def _setup(document: Document) -> _Pdf:
    pdf = _Pdf(format="A4")
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=18)
    fonts = font_files()
    if fonts is None:
        pdf.unicode = False
        pdf.set_font("helvetica", "", 10)
    else:
        pdf.add_font(FAMILY, "", str(fonts[0]))
        pdf.add_font(FAMILY, "B", str(fonts[1]))
        pdf.set_font(FAMILY, "", 10)
    pdf.footer_text = document.footer
    pdf.set_title(document.title)
    pdf.set_author(document.branding.name)
    pdf.set_creator("Client portal")
    pdf.set_lang(document.language)
    if document.issued_at is not None:
        pdf.set_creation_date(document.issued_at)
    pdf.add_page()
    return pdf


def _header(pdf: _Pdf, document: Document) -> None:
    brand = document.branding
    top = pdf.get_y()
    left = pdf.l_margin
    if brand.logo:
        pdf.image(io.BytesIO(brand.logo), x=left, y=top, h=16)
        left += 40
    pdf.set_xy(left, top)
    pdf.set_font(pdf.font_family, "B", 13)
    pdf.set_text_color(*INK)
    pdf.cell(0, 6, pdf.text_of(brand.name), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(pdf.font_family, "", 8.5)
    pdf.set_text_color(*MUTED)
    for line in (brand.address, "   ".join(v for v in (brand.phone, brand.email) if v)):
        if line:
            pdf.set_x(left)
            pdf.multi_cell(0, 4.2, pdf.text_of(line), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + 18) + 6)
    pdf.set_text_color(*INK)
    pdf.set_font(pdf.font_family, "B", 17)
    pdf.multi_cell(0, 8, pdf.text_of(document.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if document.subtitle:
        pdf.set_font(pdf.font_family, "", 10)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(0, LINE, pdf.text_of(document.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*INK)
    pdf.ln(3)


def _heading(pdf: _Pdf, block: Heading) -> None:
    if pdf.get_y() > pdf.h - pdf.b_margin - 30:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(pdf.font_family, "B", 12)
    pdf.multi_cell(0, 7, pdf.text_of(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(*RULE)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(2)
    pdf.set_font(pdf.font_family, "", 10)


def _paragraph(pdf: _Pdf, block: Paragraph) -> None:
    pdf.set_font(pdf.font_family, "", 10)
    pdf.multi_cell(0, LINE, pdf.text_of(block.text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _fields(pdf: _Pdf, block: Fields) -> None:
    label_width = 55
    for label, value in block.rows:
        if pdf.get_y() > pdf.h - pdf.b_margin - LINE:
            pdf.add_page()
        top = pdf.get_y()
        pdf.set_font(pdf.font_family, "B", 9.5)
        pdf.set_text_color(*MUTED)
        pdf.multi_cell(label_width, LINE, pdf.text_of(label), new_x=XPos.RIGHT, new_y=YPos.TOP)
        after_label = pdf.get_y()
        pdf.set_xy(pdf.l_margin + label_width, top)
        pdf.set_font(pdf.font_family, "", 10)
        pdf.set_text_color(*INK)
        pdf.multi_cell(0, LINE, pdf.text_of(value or "–"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(pdf.get_y(), after_label, top + LINE))
    pdf.ln(1)


def _bullets(pdf: _Pdf, block: Bullets) -> None:
    pdf.set_font(pdf.font_family, "", 10)
    for item in block.items:
        pdf.set_x(pdf.l_margin + 2)
        pdf.cell(5, LINE, pdf.text_of("•" if pdf.unicode else "-"))
        pdf.multi_cell(0, LINE, pdf.text_of(item), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _table(pdf: _Pdf, block: Table) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(pdf.font_family, "", 9)
    aligns = tuple(Align.R if a == "R" else Align.L for a in block.align)
    with pdf.table(
        col_widths=tuple(w * width for w in block.widths),
        text_align=aligns,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=LINE,
        first_row_as_headings=True,
    ) as table:
        header = table.row()
        for name in block.columns:
            header.cell(pdf.text_of(name))
        for values in block.rows:
            row = table.row()
            for value in values:
                row.cell(pdf.text_of(value))
    pdf.ln(2)
    for index, (label, amount) in enumerate(block.totals):
        last = index == len(block.totals) - 1
        pdf.set_font(pdf.font_family, "B" if last else "", 11 if last else 10)
        pdf.set_x(pdf.l_margin + width * 0.45)
        pdf.cell(width * 0.35, LINE + 1, pdf.text_of(label))
        pdf.cell(width * 0.20, LINE + 1, pdf.text_of(amount), align="R")
        pdf.ln(LINE + 1)
    pdf.set_font(pdf.font_family, "", 10)
    pdf.ln(1)


def _photos(pdf: _Pdf, block: Photos) -> None:
    gap = 6
    column = (pdf.w - pdf.l_margin - pdf.r_margin - gap) / 2
    max_height = 70
    items = list(block.items)
    for start in range(0, len(items), 2):
        pair = items[start : start + 2]
        sizes = [
            min(column, max_height * p.width / max(p.height, 1)) for p in pair
        ]  # width in mm, keeping the proportions within the box
        heights = [w * p.height / max(p.width, 1) for w, p in zip(sizes, pair, strict=True)]
        needed = max(heights) + 10
        if pdf.get_y() + needed > pdf.h - pdf.b_margin:
            pdf.add_page()
        top = pdf.get_y()
        for index, (photo, w, h) in enumerate(zip(pair, sizes, heights, strict=True)):
            x = pdf.l_margin + index * (column + gap)
            pdf.image(io.BytesIO(photo.data), x=x, y=top, w=w, h=h)
            if photo.caption:
                pdf.set_xy(x, top + h + 1)
                pdf.set_font(pdf.font_family, "", 8.5)
                pdf.set_text_color(*MUTED)
                pdf.multi_cell(column, 4, pdf.text_of(photo.caption))
                pdf.set_text_color(*INK)
        pdf.set_y(top + max(heights) + 10)


def _signatures(pdf: _Pdf, block: Signatures) -> None:
    gap = 10
    column = (pdf.w - pdf.l_margin - pdf.r_margin - gap) / 2
    box_height = column * 0.4
    if pdf.get_y() + box_height + 18 > pdf.h - pdf.b_margin:
        pdf.add_page()
    top = pdf.get_y()
    for index, item in enumerate(block.items[:2]):
        x = pdf.l_margin + index * (column + gap)
        pdf.set_xy(x, top)
        pdf.set_font(pdf.font_family, "B", 9.5)
        pdf.cell(column, LINE, pdf.text_of(item.label))
        png = render_png(item.strokes, width=500, height=200)
        pdf.image(io.BytesIO(png), x=x, y=top + LINE + 1, w=column, h=box_height)
        pdf.set_draw_color(*RULE)
        pdf.rect(x, top + LINE + 1, column, box_height)
        if item.caption:
            pdf.set_xy(x, top + LINE + 2 + box_height)
            pdf.set_font(pdf.font_family, "", 8.5)
            pdf.set_text_color(*MUTED)
            pdf.multi_cell(column, 4, pdf.text_of(item.caption))
            pdf.set_text_color(*INK)
    pdf.set_y(top + LINE + box_height + 12)
    if len(block.items) > 2:
        _signatures(pdf, Signatures(block.items[2:]))


_RENDER = {
    Heading: _heading,
    Paragraph: _paragraph,
    Fields: _fields,
    Bullets: _bullets,
    Table: _table,
    Photos: _photos,
    Signatures: _signatures,
}


def render_pdf(document: Document) -> bytes:
    """The PDF file of ``document`` (A4, fonts embedded, pages numbered)."""
    pdf = _setup(document)
    _header(pdf, document)
    block: Block
    for block in document.blocks:
        _RENDER[type(block)](pdf, block)  # type: ignore[operator]
    return bytes(pdf.output())

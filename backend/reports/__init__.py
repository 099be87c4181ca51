"""Generated documents: one content model (``content``), composed in the reader's language
(``compose``), rendered as PDF (``pdf``, fpdf2) or Word (``word``, python-docx).

Pure: no web or database; ``backend.services.documents`` stores and serves the files.
"""

from __future__ import annotations

from backend.reports.content import MEDIA_TYPES, Document, Format, content_key
from backend.reports.pdf import render_pdf
from backend.reports.word import render_docx


def render(document: Document, fmt: Format) -> bytes:
    """The file of ``document`` in ``fmt`` (``pdf`` or ``docx``)."""
    return render_pdf(document) if fmt == "pdf" else render_docx(document)


__all__ = ["MEDIA_TYPES", "Document", "Format", "content_key", "render"]

"""Report rendering: the PDF's and the Word file's text in the reader's language, the images
they hold, the size budget of a 10-photo report, and the content key."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docx
import pytest
from PIL import Image
from pypdf import PdfReader

from backend.reports import compose, render
from backend.reports.content import Branding, content_key
from backend.reports.photos import PHOTO_MAX_BYTES, PhotoError, prepare_photo

LOGO = (Path(__file__).resolve().parents[2] / "assets" / "logo.png").read_bytes()
TECH_SIGNATURE = {"strokes": [[[0.1, 0.5], [0.4, 0.3], [0.9, 0.6]]]}
CLIENT_SIGNATURE = {"strokes": [[[0.2, 0.8], [0.7, 0.2]], [[0.3, 0.3]]], "width": 1, "height": 1}
CLOSED_AT = datetime(2026, 11, 23, 11, 30, tzinfo=UTC)
BUDGET = 2 * 1024 * 1024  # a report with 10 photos, either format


def camera_photo(seed: int, size: tuple[int, int] = (3000, 2000)) -> bytes:
    """A worst case for JPEG: full-resolution noise (a real photo compresses better).

    Seeded, so the same seed gives the same photo (content keys compare equal).
    """
    noise = random.Random(seed).randbytes(size[0] * size[1] * 3)
    image = Image.frombytes("RGB", size, noise)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def facts(language: str) -> compose.Facts:
    return compose.Facts(
        language=language,
        timezone="Europe/Paris",
        branding=Branding(
            "Chauffage Dupont & Fils",
            "1 rue de la République, 69002 Lyon",
            "+33 4 72 00 00 00",
            "bureau@dupont.example",
            LOGO,
        ),
        reference="4217",
        type_name="Entretien chaudière",
        client_name="Zoé Lefèvre",
        site="Maison – 10 rue Mercière, 69002 Lyon",
        technician="Karim",
        visit_at=datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    )


def closure(photo_count: int) -> dict[str, Any]:
    photos = []
    for index in range(photo_count):
        data, width, height = prepare_photo(camera_photo(index, (1600, 1200)))
        photos.append({"data": data, "width": width, "height": height, "caption": f"Vue {index}"})
    return {
        "summary": "Chaudière révisée, brûleur nettoyé ; pièce remplacée pour 120,50 €.",
        "work_done": ["Nettoyage du corps de chauffe", "Contrôle de la combustion (CO)"],
        "answers": [{"label": "Pression", "value": "1,5 bar"}],
        "photos": photos,
        "signatures": [
            {"role": "technician", "strokes": TECH_SIGNATURE, "name": "Karim Benali"},
            {"role": "client", "strokes": CLIENT_SIGNATURE, "name": "Zoé Lefèvre"},
        ],
    }


def pdf_text(data: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    images = sum(len(page.images) for page in reader.pages)
    return text, images


def docx_text(data: bytes) -> tuple[str, int]:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts), len(document.inline_shapes)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            [
                "Rapport d'intervention",
                "Date de l'intervention",
                "lun. 23 nov. 2026, 09:00",
                "Clôturée le",
                "Travaux réalisés",
                "Signature du client",
            ],
        ),
        (
            "en",
            [
                "Intervention report",
                "Date of the visit",
                "Mon, Nov 23, 2026, 9:00",
                "Closed on",
                "Work done",
                "Client's signature",
            ],
        ),
    ],
)
def test_report_says_everything_in_the_clients_language(language: str, expected: list[str]) -> None:
    document = compose.report_document(facts(language), closure(3), CLOSED_AT)
    company = [
        "Chauffage Dupont & Fils",
        "bureau@dupont.example",
        "Zoé Lefèvre",
        "Chaudière révisée, brûleur nettoyé ; pièce remplacée pour 120,50 €.",
        "Nettoyage du corps de chauffe",
        "1,5 bar",
        "Vue 2",
    ]
    text, images = pdf_text(render(document, "pdf"))
    flat = " ".join(text.split())
    for words in expected + company:
        assert " ".join(words.split()) in flat, words
    # 3 photos, 2 signatures and the logo.
    assert images == 6
    text, shapes = docx_text(render(document, "docx"))
    for words in expected + company:
        assert words in text, words
    assert shapes == 6
    other = "en" if language == "fr" else "fr"
    assert compose.words(other)["report"] not in text


def test_ten_photo_report_stays_under_the_budget() -> None:
    document = compose.report_document(facts("fr"), closure(10), CLOSED_AT)
    for fmt in ("pdf", "docx"):
        data = render(document, fmt)
        assert len(data) <= BUDGET, (fmt, len(data))
    text, images = pdf_text(render(document, "pdf"))
    assert images == 13 and "Vue 9" in text


def test_photos_are_upright_downscaled_jpegs_under_the_cap() -> None:
    tall = Image.open(io.BytesIO(camera_photo(7, (2000, 3000))))
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera says: rotate 90°
    out = io.BytesIO()
    tall.save(out, format="JPEG", quality=95, exif=exif)
    data, width, height = prepare_photo(out.getvalue())
    assert len(data) <= PHOTO_MAX_BYTES
    assert data.startswith(b"\xff\xd8\xff")
    assert width > height and max(width, height) <= 1280
    png = io.BytesIO()
    Image.new("RGBA", (50, 40), (255, 0, 0, 128)).save(png, format="PNG")
    assert prepare_photo(png.getvalue())[1:] == (50, 40)
    with pytest.raises(PhotoError):
        prepare_photo(b"GIF89a not a photo")


def test_signed_quote_carries_lines_totals_and_the_evidence() -> None:
    from backend.quotes import parse_quote, quote_document

    quote = quote_document(
        parse_quote(
            {
                "number": "D2026-00042",
                "issued_on": "2026-11-20",
                "valid_until": "2026-12-20",
                "currency": "EUR",
                "lines": [
                    {
                        "label": "Main d'œuvre",
                        "quantity": "1.5",
                        "unit": "h",
                        "unit_price": "55.00",
                        "tax_rate": "10",
                    },
                    {
                        "label": "Détartrant",
                        "quantity": "2",
                        "unit_price": "9.90",
                        "tax_rate": "20",
                    },
                ],
            }
        )
    )
    evidence = compose.Evidence(
        signed_at=CLOSED_AT,
        document_sha256="a" * 64,
        signer_contact="email:zoe@example.com",
        channel="app",
        method="code",
        signature=CLIENT_SIGNATURE,
    )
    document = compose.quote_document(facts("fr"), quote, evidence)
    text, images = pdf_text(render(document, "pdf"))
    flat = " ".join(text.split())
    for words in (
        "Devis n° D2026-00042 signé",
        "Main d'œuvre",
        "82,50 €",
        "TVA 20 % sur 19,80 €",
        "Total TTC",
        "Preuve de signature",
        "zoe@example.com",
        "Application",
        "Code à usage unique",
    ):
        assert " ".join(words.split()) in flat, words
    assert "a" * 64 in "".join(text.split())  # the hash wraps at the column's edge
    assert images == 2  # the logo and the client's signature
    english = compose.quote_document(facts("en"), quote)
    text, _ = docx_text(render(english, "docx"))
    assert "Quote D2026-00042" in text and "Total incl. tax" in text
    assert "Signature evidence" not in text


def test_the_content_key_changes_with_the_data_format_and_language() -> None:
    base = compose.report_document(facts("fr"), closure(1), CLOSED_AT)
    same = compose.report_document(facts("fr"), closure(1), CLOSED_AT)
    assert content_key(base, "pdf") == content_key(same, "pdf")
    assert content_key(base, "pdf") != content_key(base, "docx")
    english = compose.report_document(facts("en"), closure(1), CLOSED_AT)
    assert content_key(base, "pdf") != content_key(english, "pdf")
    edited = dict(closure(1), summary="Autre chose")
    assert content_key(base, "pdf") != content_key(
        compose.report_document(facts("fr"), edited, CLOSED_AT), "pdf"
    )

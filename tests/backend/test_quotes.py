"""backend/quotes.py: checks, totals and rounding, display text; the PDF; the signed document."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import forms
from backend.quote_pdf import render_quote_pdf
from backend.quotes import (
    QuoteError,
    compute_totals,
    parse_quote,
    quote_document,
    quote_view,
    round_money,
)

NBSP = "\u00a0"


def line(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "label": "Main d'œuvre",
        "quantity": "1",
        "unit": "h",
        "unit_price": "55.00",
        "tax_rate": "10",
    }
    values.update(overrides)
    return values


def quote_data(*lines: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "number": "D2026-00042",
        "issued_on": "2026-11-23",
        "valid_until": "2026-12-23",
        "currency": "EUR",
        "lines": list(lines) or [line()],
    }
    values.update(overrides)
    return values


def problems_of(data: Any) -> dict[str, str]:
    with pytest.raises(QuoteError) as caught:
        parse_quote(data)
    return {".".join(map(str, p["loc"])): p["msg"] for p in caught.value.as_json()}


# --- checks --------------------------------------------------------------------------


def test_every_bad_field_is_named() -> None:
    found = problems_of(
        quote_data(
            line(label="  ", quantity="0"),
            line(quantity=1.5, unit_price="12,50", tax_rate="120"),
            line(unit_price=12.5, tax_rate="5.555"),
            valid_until="2026-11-01",
            currency="eur",
        )
    )
    assert set(found) == {
        "valid_until",
        "currency",
        "lines.0.label",
        "lines.0.quantity",
        "lines.1.quantity",
        "lines.1.unit_price",
        "lines.1.tax_rate",
        "lines.2.unit_price",
        "lines.2.tax_rate",
    }
    assert "never a number" in found["lines.1.quantity"]  # a JSON float is refused, with why
    assert "before it is issued" in found["valid_until"]


def test_shape_problems() -> None:
    assert set(problems_of({})) == {"number", "issued_on", "valid_until", "currency", "lines"}
    assert "lines" in problems_of(quote_data(lines=[]))
    assert "lines.0.colour" in problems_of(quote_data(line(colour="red")))
    assert "currency" in problems_of(quote_data(currency="ZZZ"))  # not ISO 4217
    assert "issued_on" in problems_of(quote_data(issued_on="2026-02-30"))
    assert "issued_on" in problems_of(quote_data(issued_on=20261123))
    assert "number" in problems_of(quote_data(number="../etc"))
    assert "lines.0.quantity" in problems_of(quote_data(line(quantity="1.2345")))
    assert "lines.0.quantity" in problems_of(quote_data(line(quantity="1e3")))
    assert "lines.0.label" in problems_of(quote_data(line(label="x" * 301)))
    assert "lines" in problems_of(quote_data(lines=[line()] * 101))


def test_prices_follow_the_currency_exponent() -> None:
    assert "lines.0.unit_price" in problems_of(quote_data(line(unit_price="10.001")))
    assert "lines.0.unit_price" in problems_of(quote_data(line(unit_price="10.5"), currency="JPY"))
    parse_quote(quote_data(line(unit_price="10.125"), currency="BHD"))  # three decimals


def test_discounts_may_not_make_the_total_negative() -> None:
    parse_quote(quote_data(line(), line(label="Remise", unit="", unit_price="-5.00")))
    found = problems_of(quote_data(line(unit_price="10"), line(label="Remise", unit_price="-20")))
    assert found == {"lines": "the lines add up to a negative total"}


def test_texts_are_trimmed_and_empty_ones_left_out() -> None:
    quote = parse_quote(quote_data(line(label="  Pose  ", unit="  "), note="   ", number="A1 "))
    doc = quote_document(quote)
    assert doc["number"] == "A1"
    assert doc["note"] is None
    assert doc["lines"][0]["label"] == "Pose" and doc["lines"][0]["unit"] is None


# --- totals and rounding ---------------------------------------------------------------


def test_totals_of_a_realistic_quote() -> None:
    quote = parse_quote(
        quote_data(
            line(label="Déplacement", unit="forfait", unit_price="49.00"),
            line(quantity="1.5", unit_price="45.33"),  # 67.995 -> 68.00 (half-up)
            line(label="Détartrant", unit="u", quantity="2", unit_price="9.90", tax_rate="20"),
        )
    )
    doc = quote_document(quote)
    assert [x["total"] for x in doc["lines"]] == ["49.00", "68.00", "19.80"]
    assert doc["subtotal"] == "136.80"
    assert doc["taxes"] == [
        {"rate": "10", "base": "117.00", "amount": "11.70"},
        {"rate": "20", "base": "19.80", "amount": "3.96"},
    ]
    assert doc["total"] == "152.46"
    # Money is text, never a float, anywhere in the document.
    assert all(not isinstance(v, float) for v in _leaves(doc))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_rounding_is_half_up_to_the_currency_minor_unit() -> None:
    assert round_money(Decimal("2.675"), "EUR") == Decimal("2.68")  # a float would give 2.67
    assert round_money(Decimal("2.665"), "EUR") == Decimal("2.67")  # not banker's 2.66
    assert round_money(Decimal("-2.675"), "EUR") == Decimal("-2.68")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert round_money(Decimal("1.2345"), "BHD") == Decimal("1.235")
    assert str(round_money(Decimal("-0.001"), "EUR")) == "0.00"  # never "-0.00"


def test_tax_is_rounded_once_per_rate_not_per_line() -> None:
    # Three lines of 0.05 at 10 %: 0.005 each would round to 0.01 x 3 = 0.03;
    # on the 0.15 base it is 0.015 -> 0.02.
    quote = parse_quote(quote_data(*[line(unit_price="0.05")] * 3))
    assert compute_totals(quote).taxes[0].amount == Decimal("0.02")


def test_equal_rates_written_differently_are_one_rate() -> None:
    quote = parse_quote(quote_data(line(tax_rate="20"), line(tax_rate="20.0")))
    assert [plain["rate"] for plain in quote_document(quote)["taxes"]] == ["20"]


_amounts = st.decimals(min_value=-1000, max_value=100_000, places=2)
_quantities = st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3)
_rates = st.sampled_from(["0", "2.1", "5.5", "10", "20"])


@st.composite
def quotes(draw: st.DrawFn) -> dict[str, Any]:
    lines = draw(
        st.lists(
            st.builds(
                lambda q, p, r: line(quantity=str(q), unit_price=str(p), tax_rate=r),
                _quantities,
                _amounts.map(abs),
                _rates,
            ),
            min_size=1,
            max_size=12,
        )
    )
    return quote_data(*lines)


@settings(max_examples=200, deadline=None)
@given(quotes())
def test_totals_add_up(data: dict[str, Any]) -> None:
    quote = parse_quote(data)
    totals = compute_totals(quote)
    cent = Decimal("0.01")
    for item, amount in zip(quote.lines, totals.lines, strict=True):
        exact = item.quantity * item.unit_price
        assert abs(amount - exact) <= cent / 2  # rounded to the nearest cent
        assert amount == amount.quantize(cent)
    assert totals.subtotal == sum(totals.lines)
    assert sum(t.base for t in totals.taxes) == totals.subtotal
    for tax in totals.taxes:
        assert abs(tax.amount - tax.base * tax.rate / 100) <= cent / 2
    assert totals.total == totals.subtotal + sum(t.amount for t in totals.taxes)
    # The document carries the same figures, as text.
    doc = quote_document(quote)
    assert Decimal(doc["total"]) == totals.total
    assert [Decimal(x["total"]) for x in doc["lines"]] == list(totals.lines)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=-(10**9), max_value=10**9, places=3))
def test_half_up_rounding_is_never_off_by_more_than_half_a_cent(amount: Decimal) -> None:
    rounded = round_money(amount, "EUR")
    assert abs(rounded - amount) <= Decimal("0.005")
    if abs(amount - rounded) == Decimal("0.005"):
        assert abs(rounded) > abs(amount)  # ties go away from zero


# --- display ---------------------------------------------------------------------------


def test_french_and_english_text() -> None:
    quote = parse_quote(
        quote_data(
            line(quantity="1.5", unit_price="1234.50", tax_rate="5.5"),
            line(label="Thermostat", quantity="1000", unit="u", unit_price="0.10", tax_rate="20"),
        )
    )
    fr, en = quote_view(quote, "fr"), quote_view(quote, "en")
    assert fr.lines[0].unit_price == f"1{NBSP}234,50{NBSP}€"
    assert en.lines[0].unit_price == "€1,234.50"
    assert (fr.lines[0].quantity, en.lines[0].quantity) == ("1,5", "1.5")
    assert (fr.lines[1].quantity, en.lines[1].quantity) == (f"1{NBSP}000", "1,000")
    assert (fr.lines[0].tax_rate, en.lines[0].tax_rate) == (f"5,5{NBSP}%", "5.5%")
    assert (fr.taxes[1].rate, en.taxes[1].rate) == (f"20{NBSP}%", "20%")
    assert (fr.issued_on, en.issued_on) == ("23 nov. 2026", "Nov 23, 2026")
    # 1851.75 + 100.00, VAT 101.85 (5.5 %) + 20.00 (20 %)
    assert fr.total == f"2{NBSP}073,60{NBSP}€" and en.total == "€2,073.60"
    # No narrow no-break space (missing from some fonts): a plain one instead.
    assert "\u202f" not in repr(fr)


def test_a_document_shows_its_own_figures() -> None:
    doc = quote_document(parse_quote(quote_data()))
    doc["total"] = "999.99"  # what was issued and is signed, even if rules change later
    assert quote_view(doc, "en").total == "€999.99"


@pytest.mark.parametrize(
    "broken",
    [
        None,
        [],
        {"currency": None},
        {"lines": "x"},
        {"total": 12.5},
        {"lines": [{"label": "a"}]},
        {"currency": "ZZZ"},
        {"issued_on": "soon"},
    ],
)
def test_a_malformed_document_is_refused_not_shown(broken: Any) -> None:
    doc: Any = broken
    if isinstance(broken, dict):
        doc = {**quote_document(parse_quote(quote_data())), **broken}
    with pytest.raises(QuoteError):
        quote_view(doc, "fr")


# --- the signed document ------------------------------------------------------------------


ACTIVITY = {"id": 7, "reference": "7", "type_name": "Dépannage", "description": "Fuite"}
FORM = {"id": 3, "name": "Signature du devis", "fields": [{"key": "a", "type": "yes_no"}]}


def test_without_a_quote_the_signed_document_is_unchanged() -> None:
    # The hash of a document signed before quotes existed (fixed on purpose).
    assert forms.sha256_of(forms.document_for(ACTIVITY, FORM)) == (
        forms.sha256_of(
            {
                "activity": {
                    "id": 7,
                    "reference": "7",
                    "type_name": "Dépannage",
                    "description": "Fuite",
                },
                "form": FORM,
            }
        )
    )
    assert "quote" not in forms.document_for({**ACTIVITY, "quote": None}, FORM)


def test_the_signed_document_covers_lines_totals_and_pdf() -> None:
    doc = quote_document(parse_quote(quote_data()))
    signed = forms.sha256_of(forms.document_for({**ACTIVITY, "quote": doc}, FORM))
    assert signed != forms.sha256_of(forms.document_for(ACTIVITY, FORM))
    cheaper = quote_document(parse_quote(quote_data(line(unit_price="54.99"))))
    with_pdf = {**doc, "pdf": {"url": "/activities/7/quote.pdf", "size": 10, "sha256": "ab"}}
    for other in (cheaper, with_pdf):
        assert forms.sha256_of(forms.document_for({**ACTIVITY, "quote": other}, FORM)) != signed


# --- the PDF ----------------------------------------------------------------------------------


def test_the_pdf_is_one_well_formed_page() -> None:
    doc = quote_document(
        parse_quote(quote_data(line(), line(label="Thermostat (fourni)", tax_rate="20")))
    )
    pdf = render_quote_pdf(doc, "Rhône Chauffage Services", "fr")
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page ") == 1
    # The cross-reference table points at each object.
    xref = int(re.search(rb"startxref\n(\d+)", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[xref:].startswith(b"xref")
    offsets = [int(m) for m in re.findall(rb"(\d{10}) 00000 n", pdf)]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    # French text in WinAnsi: accents, the euro sign, the company and totals.
    assert "Rhône".encode("cp1252") in pdf and "Désignation".encode("cp1252") in pdf
    assert b"Total TTC" in pdf and "126,50 €".encode("cp1252") in pdf  # 110 + 5.50 + 11


def test_the_pdf_of_a_long_quote_stays_on_one_page() -> None:
    long = quote_document(parse_quote(quote_data(*[line(label=f"Ligne {i}") for i in range(100)])))
    pdf = render_quote_pdf(long, "C", "en")
    assert pdf.count(b"/Type /Page ") == 1
    assert b"more lines" in pdf and b"Total incl. tax" in pdf

"""Quotes: the company's priced offer on an intervention — checks, totals and display text.

Pure module shared with the app (DESIGN.md §2): it knows no web, database or
screen. Staff send a :class:`Quote`; the server stores its :func:`quote_document`
(lines, totals and taxes already computed) and syncs it to the client, whose
app shows it with :func:`quote_view` in the client's language. The document
is part of what a client signs (``backend.forms.document_for``), so the app
shows the figures the document carries instead of computing its own.

Money is :class:`~decimal.Decimal` in Python and decimal text in JSON
(``"1234.50"``), never a float. Rounding, half-up to the currency's minor
unit (its ISO 4217 exponent, as CLDR records it: 2 for EUR, 0 for JPY):

- a line's total is quantity x unit price, rounded;
- the tax of each rate is the rate applied to the sum of the line totals at
  that rate, rounded once (not a sum of rounded per-line taxes);
- the subtotal is the sum of the line totals, the total the subtotal plus
  every tax amount.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Annotated, Any

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from backend.localization import babel_locale, format_money

MAX_LINES = 100
LABEL_MAX_LENGTH = 300
UNIT_MAX_LENGTH = 20
NUMBER_MAX_LENGTH = 40
NOTE_MAX_LENGTH = 2000
MAX_QUANTITY = Decimal("1000000")
QUANTITY_DECIMALS = 3
MAX_UNIT_PRICE = Decimal("1000000000")
TAX_RATE_DECIMALS = 2
FIRST_YEAR = 2000
LAST_YEAR = 2199
# Decimal text as JSON carries it: no exponent, no spaces, no float.
DECIMAL_PATTERN = r"^-?[0-9]{1,12}(\.[0-9]{1,6})?$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$"

_DECIMAL = re.compile(DECIMAL_PATTERN)
_DATE = re.compile(DATE_PATTERN)
# CLDR puts narrow no-break spaces in French numbers; not every font has the
# glyph (see backend.localization), so they become plain no-break spaces.
_SPACES = str.maketrans({"\u202f": "\u00a0", "\u2009": " "})


class QuoteError(ValueError):
    """A quote (or a quote document) that cannot be used; ``problems`` say where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.where()}: {p.message}" for p in self.problems))

    def as_json(self) -> list[dict[str, Any]]:
        """FastAPI's 422 shape: ``[{"loc": [...], "msg": ..., "type": ...}]``."""
        return [p.as_json() for p in self.problems]


@dataclass(frozen=True)
class Problem:
    """One problem: the path of the field (``("lines", 2, "unit_price")``) and a sentence."""

    loc: tuple[str | int, ...]
    message: str
    kind: str = "value_error"

    def where(self) -> str:
        """``lines.2.unit_price``."""
        return ".".join(str(part) for part in self.loc) or "quote"

    def as_json(self) -> dict[str, Any]:
        """One entry of a 422 answer."""
        return {"loc": list(self.loc), "msg": self.message, "type": self.kind}


# --- decimal and date text -------------------------------------------------------


def decimal_of(text: Any) -> Decimal:
    """The Decimal written as ``text`` (``"12.50"``); ValueError for anything else.

    JSON numbers are refused on purpose: a float cannot hold 0.1 exactly.
    """
    if not isinstance(text, str):
        raise ValueError('write amounts and quantities as text, e.g. "12.50" (never a number)')
    if not _DECIMAL.match(text):
        raise ValueError('expected decimal text such as "12.50" (a dot, no spaces)')
    return Decimal(text)


def decimals_of(value: Decimal) -> int:
    """How many digits ``value`` has after the point (``12.50`` -> 2)."""
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def plain(value: Decimal) -> str:
    """Decimal text without trailing zeros or exponent: ``1.50`` -> ``1.5``, ``1E+2`` -> ``100``."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def _quantity(value: Any) -> Decimal:
    number = decimal_of(value)
    if number <= 0:
        raise ValueError("the quantity must be more than 0")
    if number > MAX_QUANTITY:
        raise ValueError(f"the quantity must be at most {MAX_QUANTITY}")
    if decimals_of(number) > QUANTITY_DECIMALS:
        raise ValueError(f"at most {QUANTITY_DECIMALS} decimals in a quantity")
    return number


def _unit_price(value: Any) -> Decimal:
    number = decimal_of(value)
    if abs(number) > MAX_UNIT_PRICE:
        raise ValueError(f"the unit price must be between -{MAX_UNIT_PRICE} and {MAX_UNIT_PRICE}")
    return number


def _tax_rate(value: Any) -> Decimal:
    number = decimal_of(value)
    if not 0 <= number <= 100:
        raise ValueError("the tax rate is a percentage between 0 and 100")
    if decimals_of(number) > TAX_RATE_DECIMALS:
        raise ValueError(f"at most {TAX_RATE_DECIMALS} decimals in a tax rate")
    return number


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("expected a date as YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"the year must be between {FIRST_YEAR} and {LAST_YEAR}")
    return day


def _decimal_schema(description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "pattern": DECIMAL_PATTERN, "description": description}
    )


_AS_TEXT = PlainSerializer(plain, return_type=str)
Quantity = Annotated[
    Decimal,
    PlainValidator(_quantity),
    _AS_TEXT,
    _decimal_schema('Decimal text, more than 0 ("1.5").'),
]
UnitPrice = Annotated[
    Decimal,
    PlainValidator(_unit_price),
    _AS_TEXT,
    _decimal_schema(
        "Excluding tax, decimal text, negative for a discount, with at most the "
        'currency\'s decimals ("55.00").'
    ),
]
TaxRate = Annotated[
    Decimal,
    PlainValidator(_tax_rate),
    _AS_TEXT,
    _decimal_schema('Percent from 0 to 100 ("20", "5.5").'),
]
DateText = Annotated[
    date,
    PlainValidator(_date),
    PlainSerializer(date.isoformat, return_type=str),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]


# --- the quote staff send --------------------------------------------------------------


class QuoteLine(BaseModel):
    """One line: what, how many, at what price excluding tax, at what tax rate."""

    # Texts are trimmed after their length is checked: what the schema says
    # is too long is refused, whatever spaces it carries.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    label: Annotated[str, Field(min_length=1, max_length=LABEL_MAX_LENGTH)]
    quantity: Quantity
    unit: Annotated[str, Field(max_length=UNIT_MAX_LENGTH)] | None = None
    unit_price: UnitPrice
    tax_rate: TaxRate

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a line needs a label")
        return value.strip()

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


class Quote(BaseModel):
    """A quote as staff write it; totals are computed, never sent."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    number: Annotated[
        str, Field(min_length=1, max_length=NUMBER_MAX_LENGTH, pattern=NUMBER_PATTERN)
    ]
    issued_on: DateText
    valid_until: DateText
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
    lines: Annotated[list[QuoteLine], Field(min_length=1, max_length=MAX_LINES)]
    note: Annotated[str, Field(max_length=NOTE_MAX_LENGTH)] | None = None

    @field_validator("number")
    @classmethod
    def _number(cls, value: str) -> str:
        return value.strip()

    @field_validator("valid_until")
    @classmethod
    def _after_issue(cls, value: date, info: ValidationInfo) -> date:
        issued = info.data.get("issued_on")
        if isinstance(issued, date) and value < issued:
            raise ValueError("a quote cannot expire before it is issued")
        return value

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in babel_numbers.list_currencies():
            raise ValueError(f"unknown ISO 4217 currency {value!r}")
        return value

    @field_validator("note")
    @classmethod
    def _blank_note(cls, value: str | None) -> str | None:
        return (value or "").strip() or None


def currency_exponent(currency: str) -> int:
    """Digits after the point of ``currency``'s minor unit (EUR 2, JPY 0, BHD 3)."""
    return int(babel_numbers.get_currency_precision(currency))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to ``currency``'s minor unit (``2.675`` -> ``2.68``)."""
    with localcontext(prec=60):
        rounded = amount.quantize(Decimal(1).scaleb(-currency_exponent(currency)), ROUND_HALF_UP)
    return abs(rounded) if rounded == 0 else rounded  # never "-0.00"


@dataclass(frozen=True)
class TaxTotal:
    """The tax of one rate: ``rate`` percent of ``base`` (the lines at that rate)."""

    rate: Decimal
    base: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Totals:
    """Every figure of a quote: line totals (in line order), subtotal, taxes, total."""

    lines: tuple[Decimal, ...]
    subtotal: Decimal
    taxes: tuple[TaxTotal, ...]
    total: Decimal


def compute_totals(quote: Quote) -> Totals:
    """Line totals, subtotal excluding tax, tax per rate (lowest rate first), total."""
    currency = quote.currency
    with localcontext(prec=60):
        lines = tuple(
            round_money(line.quantity * line.unit_price, currency) for line in quote.lines
        )
        bases: dict[Decimal, Decimal] = {}
        for line, amount in zip(quote.lines, lines, strict=True):
            rate = line.tax_rate.normalize()
            bases[rate] = bases.get(rate, Decimal(0)) + amount
        taxes = tuple(
            TaxTotal(rate, base, round_money(base * rate / 100, currency))
            for rate, base in sorted(bases.items())
        )
        subtotal = sum(lines, Decimal(0))
        total = subtotal + sum((t.amount for t in taxes), Decimal(0))
    return Totals(lines=lines, subtotal=subtotal, taxes=taxes, total=total)


def problems(quote: Quote) -> list[Problem]:
    """What the field checks cannot see: prices finer than the currency, a negative total."""
    found: list[Problem] = []
    exponent = currency_exponent(quote.currency)
    for index, line in enumerate(quote.lines):
        if decimals_of(line.unit_price) > exponent:
            found.append(
                Problem(
                    ("lines", index, "unit_price"),
                    f"at most {exponent} decimals in a {quote.currency} amount",
                )
            )
    if not found and compute_totals(quote).total < 0:
        found.append(Problem(("lines",), "the lines add up to a negative total"))
    return found


def check(quote: Quote) -> Quote:
    """``quote`` when it may be issued; :class:`QuoteError` naming each bad field otherwise."""
    found = problems(quote)
    if found:
        raise QuoteError(found)
    return quote


def parse_quote(data: Any) -> Quote:
    """A checked :class:`Quote` from JSON data; :class:`QuoteError` with every problem."""
    try:
        quote = Quote.model_validate(data)
    except ValidationError as exc:
        raise QuoteError(
            [
                Problem(tuple(e["loc"]), e["msg"], e["type"])
                for e in exc.errors(include_url=False, include_context=False)
            ]
        ) from None
    return check(quote)


def _money_text(amount: Decimal, currency: str) -> str:
    return format(round_money(amount, currency), "f")


def quote_document(quote: Quote) -> dict[str, Any]:
    """The quote as stored, synced and signed: JSON with every figure as decimal text.

    ``{"number", "issued_on", "valid_until", "currency", "note",
    "lines": [{"label", "quantity", "unit", "unit_price", "tax_rate", "total"}],
    "subtotal", "taxes": [{"rate", "base", "amount"}], "total"}``.
    """
    totals = compute_totals(quote)
    currency = quote.currency
    return {
        "number": quote.number,
        "issued_on": quote.issued_on.isoformat(),
        "valid_until": quote.valid_until.isoformat(),
        "currency": currency,
        "note": quote.note,
        "lines": [
            {
                "label": line.label,
                "quantity": plain(line.quantity),
                "unit": line.unit or None,
                "unit_price": _money_text(line.unit_price, currency),
                "tax_rate": plain(line.tax_rate),
                "total": _money_text(amount, currency),
            }
            for line, amount in zip(quote.lines, totals.lines, strict=True)
        ],
        "subtotal": _money_text(totals.subtotal, currency),
        "taxes": [
            {
                "rate": plain(tax.rate),
                "base": _money_text(tax.base, currency),
                "amount": _money_text(tax.amount, currency),
            }
            for tax in totals.taxes
        ],
        "total": _money_text(totals.total, currency),
    }


# --- display --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    """One line as text in the reader's language (``unit`` as staff wrote it, or None)."""

    label: str
    quantity: str
    unit: str | None
    unit_price: str
    tax_rate: str
    total: str


@dataclass(frozen=True)
class TaxView:
    """``rate`` (``20 %``) of ``base`` is ``amount``."""

    rate: str
    base: str
    amount: str


@dataclass(frozen=True)
class QuoteView:
    """A quote document as text in the reader's language, figures as the document has them."""

    number: str
    issued_on: str
    valid_until: str
    valid_until_date: date
    currency: str
    lines: tuple[LineView, ...]
    subtotal: str
    taxes: tuple[TaxView, ...]
    total: str
    note: str | None


def format_quantity(value: Decimal, locale: str | None) -> str:
    """``1.5`` -> ``1.5`` / ``1,5``; ``1234`` -> ``1,234`` / ``1 234`` (no rounding)."""
    text = babel_numbers.format_decimal(
        value, locale=babel_locale(locale), decimal_quantization=False
    )
    return text.translate(_SPACES)


def format_rate(percent: Decimal, locale: str | None) -> str:
    """A tax rate in percent: ``20`` -> ``20%`` / ``20 %``; ``5.5`` -> ``5.5%`` / ``5,5 %``."""
    text = babel_numbers.format_percent(
        percent / 100, locale=babel_locale(locale), decimal_quantization=False
    )
    return text.translate(_SPACES)


def format_day(day: date, locale: str | None) -> str:
    """A calendar day: ``Nov 23, 2026`` / ``23 nov. 2026``."""
    text = babel_dates.format_skeleton("yMMMd", day, locale=babel_locale(locale))
    return text.translate(_SPACES)


class _Reader:
    """Reads a quote document, collecting what is wrong instead of stopping at the first."""

    def __init__(self) -> None:
        self.found: list[Problem] = []

    def text(self, doc: Mapping[str, Any], key: str, loc: tuple[str | int, ...]) -> str:
        value = doc.get(key)
        if not isinstance(value, str):
            self.found.append(Problem((*loc, key), "expected text"))
            return ""
        return value

    def optional_text(
        self, doc: Mapping[str, Any], key: str, loc: tuple[str | int, ...]
    ) -> str | None:
        value = doc.get(key)
        if value is None or isinstance(value, str):
            return value or None
        self.found.append(Problem((*loc, key), "expected text or null"))
        return None

    def number(self, doc: Mapping[str, Any], key: str, loc: tuple[str | int, ...]) -> Decimal:
        try:
            return decimal_of(doc.get(key))
        except (ValueError, InvalidOperation) as exc:
            self.found.append(Problem((*loc, key), str(exc)))
            return Decimal(0)

    def day(self, doc: Mapping[str, Any], key: str) -> date:
        try:
            return _date(doc.get(key))
        except ValueError as exc:
            self.found.append(Problem((key,), str(exc)))
            return date(FIRST_YEAR, 1, 1)

    def rows(self, doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = doc.get(key)
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.found.append(Problem((key,), "expected a list of objects"))
            return []
        return value


def quote_view(quote: Quote | Mapping[str, Any], locale: str | None) -> QuoteView:
    """Every text a screen or a PDF shows of a quote, in ``locale`` (Babel).

    ``quote`` is a :class:`Quote` or a quote document (:func:`quote_document`,
    as synced): a document's own figures are shown, never recomputed, since
    they are what the client signs. A malformed document raises
    :class:`QuoteError` (show nothing rather than something else).
    """
    doc: Mapping[str, Any] = quote_document(quote) if isinstance(quote, Quote) else quote
    if not isinstance(doc, Mapping):
        raise QuoteError([Problem((), "a quote document is an object")])
    read = _Reader()
    currency = read.text(doc, "currency", ())
    if currency and currency not in babel_numbers.list_currencies():
        read.found.append(Problem(("currency",), f"unknown currency {currency!r}"))
    number = read.text(doc, "number", ())
    issued_on, valid_until = read.day(doc, "issued_on"), read.day(doc, "valid_until")
    note = read.optional_text(doc, "note", ())
    raw_lines = [
        (
            read.text(row, "label", ("lines", i)),
            read.number(row, "quantity", ("lines", i)),
            read.optional_text(row, "unit", ("lines", i)),
            read.number(row, "unit_price", ("lines", i)),
            read.number(row, "tax_rate", ("lines", i)),
            read.number(row, "total", ("lines", i)),
        )
        for i, row in enumerate(read.rows(doc, "lines"))
    ]
    raw_taxes = [
        (
            read.number(row, "rate", ("taxes", i)),
            read.number(row, "base", ("taxes", i)),
            read.number(row, "amount", ("taxes", i)),
        )
        for i, row in enumerate(read.rows(doc, "taxes"))
    ]
    subtotal = read.number(doc, "subtotal", ())
    total = read.number(doc, "total", ())
    if not raw_lines and not read.found:
        read.found.append(Problem(("lines",), "a quote has at least one line"))
    if read.found:
        raise QuoteError(read.found)

    def money(amount: Decimal) -> str:
        return format_money(amount, currency, locale)

    return QuoteView(
        number=number,
        issued_on=format_day(issued_on, locale),
        valid_until=format_day(valid_until, locale),
        valid_until_date=valid_until,
        currency=currency,
        lines=tuple(
            LineView(
                label=label,
                quantity=format_quantity(quantity, locale),
                unit=unit,
                unit_price=money(price),
                tax_rate=format_rate(rate, locale),
                total=money(line_total),
            )
            for label, quantity, unit, price, rate, line_total in raw_lines
        ),
        subtotal=money(subtotal),
        taxes=tuple(
            TaxView(rate=format_rate(rate, locale), base=money(base), amount=money(amount))
            for rate, base, amount in raw_taxes
        ),
        total=money(total),
        note=note,
    )

"""Datetimes the API accepts: within years the server can compute with.

Python's datetimes stop at years 1 and 9999, so an offset or a horizon added
to an extreme value overflows (a 500). Real appointments are nowhere near
those years: anything outside [1900, 2200) is refused with a 422 naming the
field, before any arithmetic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

FIRST_YEAR = 1900
LAST_YEAR = 2199


def within_supported_years(value: datetime) -> datetime:
    """``value`` unchanged, or a ValueError when its year is outside the supported range."""
    # Compare the year as written: converting to UTC first could itself overflow.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"dates must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


# strict=False: JSON carries datetimes as ISO 8601 text, also in strict models.
Timestamp = Annotated[datetime, Field(strict=False), AfterValidator(within_supported_years)]
"""A datetime (naive or aware) in a supported year."""

AwareTimestamp = Annotated[
    AwareDatetime, Field(strict=False), AfterValidator(within_supported_years)
]
"""A datetime with a time zone offset, in a supported year."""

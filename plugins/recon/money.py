"""Exact money arithmetic: minor units <-> major units by ISO 4217 exponent.

No floats anywhere on the money path: amounts are ``Decimal`` in Python and ``numeric`` in Postgres.
"""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 minor-unit exponents that differ from the default of 2. The same table is written into
# the warehouse (staging.currencies) so SQL and Python convert with one source of truth.
NON_DEFAULT_EXPONENTS: dict[str, int] = {
    # zero-decimal
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    # three-decimal
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}
DEFAULT_EXPONENT = 2


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (case-insensitive ISO 4217 code)."""
    return NON_DEFAULT_EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


def minor_to_major(amount_minor: int, currency: str) -> Decimal:
    """``1234`` USD cents -> ``Decimal('12.34')``; ``1200`` JPY -> ``Decimal('1200')``."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"minor-unit amount must be an integer, got {amount_minor!r}")
    return Decimal(amount_minor).scaleb(-currency_exponent(currency))

"""Exact money arithmetic: minor units <-> major units by ISO 4217 exponent, or by the decimals a spec
declares for its own currency codes (tokens, loyalty points: ``currencies: {FLOW: 8, POINTS: 0}``).

No floats anywhere on the money path: amounts are ``Decimal`` in Python and ``numeric`` in Postgres.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from types import MappingProxyType

from pydantic import BaseModel, PrivateAttr

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


# A code a spec may declare: upper-case letters and digits, 2 to 12 characters, at least one letter.
DECLARED_CODE = re.compile(r"^(?=[A-Z0-9]*[A-Z])[A-Z0-9]{2,12}$")
# What a source may name or carry as a currency before the spec's declarations are known.
CODE_TEXT = r"^[A-Za-z0-9]{2,12}$"
_ISO_SHAPE = re.compile(r"^[A-Z]{3}$")


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency`` (case-insensitive ISO 4217 code)."""
    return NON_DEFAULT_EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


class Currencies:
    """The currency codes one spec reads: any three-letter (ISO 4217) code, by its exponent, and the
    codes the spec declares, by their declared decimals. Codes are compared in upper case."""

    def __init__(self, declared: Mapping[str, int] | None = None) -> None:
        codes = {code.upper(): decimals for code, decimals in (declared or {}).items()}
        self.declared: Mapping[str, int] = MappingProxyType(codes)

    def knows(self, code: str) -> bool:
        code = code.upper()
        return code in self.declared or bool(_ISO_SHAPE.match(code))

    def exponent(self, code: str) -> int:
        """Decimals of ``code``: declared ones first, else the ISO 4217 exponent (2 unless listed)."""
        code = code.upper()
        return self.declared[code] if code in self.declared else currency_exponent(code)

    def unknown(self, code: str) -> str:
        """Why ``code`` cannot be read, after the code: "is not an ISO 4217 code nor ..."."""
        declared = ", ".join(sorted(self.declared)) or "none"
        return f"is not an ISO 4217 code nor one the spec declares under currencies (declared: {declared})"

    def __deepcopy__(self, memo: dict) -> Currencies:
        return self  # immutable: pydantic copies a private attribute's default per model

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Currencies) and dict(self.declared) == dict(other.declared)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.declared.items())))

    def __repr__(self) -> str:
        return f"Currencies({dict(self.declared)!r})"


ISO_ONLY = Currencies()


def decimals_rule(currency: str, exponent: int, currencies: Currencies) -> str:
    """How many decimals ``currency`` allows and why, for a quarantine reason: "FLOW allows (8, as
    declared under currencies)", "JPY allows (0)"."""
    declared = ", as declared under currencies" if currency.upper() in currencies.declared else ""
    return f"{currency} allows ({exponent}{declared})"


def declared_currency_problems(declared: Mapping[str, int]) -> list[str]:
    """What is wrong with a spec's ``currencies`` section, one message per code."""
    problems = []
    for code, decimals in declared.items():
        if not DECLARED_CODE.match(code):
            problems.append(
                f"currencies.{code}: a code is 2 to 12 upper-case letters and digits with at least one"
                " letter (FLOW, USDC, ETH, POINTS)"
            )
        elif _ISO_SHAPE.match(code) and code in iso_4217_codes() and decimals != currency_exponent(code):
            # Overriding ISO would read every source's JPY or KWD differently from every other spec and
            # from Stripe; a source that keeps finer amounts sets amount_decimals instead.
            problems.append(
                f"currencies.{code}: {code} is an ISO 4217 currency with {currency_exponent(code)}"
                f" decimals, not {decimals}; leave it out, or set amount_decimals on a source that keeps"
                " finer amounts"
            )
    return problems


@cache
def iso_4217_codes() -> frozenset[str]:
    """Active ISO 4217 codes, from CLDR's territory currency data (babel), minus CLDR's offshore yuan."""
    from babel.core import get_global  # imported on first use: babel's data is slow to load

    return frozenset(
        code
        for currencies in get_global("territory_currencies").values()
        for code, _start, end, _tender in currencies
        if end is None
    ) - {"CNH"}


class DeclaredCurrencies(BaseModel):
    """Mixed into source models: the spec hands each source its ``Currencies`` once it is validated
    (``Spec``), so a source alone reads ISO codes only and a spec's sources read its declared ones."""

    _currencies: Currencies = PrivateAttr(default=ISO_ONLY)

    @property
    def currencies(self) -> Currencies:
        return self._currencies

    def use_currencies(self, currencies: Currencies) -> None:
        self._currencies = currencies


def minor_to_major(amount_minor: int, currency: str, currencies: Currencies = ISO_ONLY) -> Decimal:
    """``1234`` USD cents -> ``Decimal('12.34')``; ``1200`` JPY -> ``Decimal('1200')``."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"minor-unit amount must be an integer, got {amount_minor!r}")
    return Decimal(amount_minor).scaleb(-currencies.exponent(currency))

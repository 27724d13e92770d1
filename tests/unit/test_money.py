"""Minor units to exact major units by ISO 4217 exponent; no floats on the money path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recon.money import currency_exponent, minor_to_major


@pytest.mark.parametrize(
    ("minor", "currency", "major"),
    [
        (1234, "usd", "12.34"),
        (5, "USD", "0.05"),
        (-250, "usd", "-2.50"),
        (1200, "jpy", "1200"),
        (1250, "KWD", "1.250"),
        (7, "kwd", "0.007"),
    ],
)
def test_minor_units_become_exact_major_units(minor: int, currency: str, major: str) -> None:
    amount = minor_to_major(minor, currency)

    assert isinstance(amount, Decimal)
    assert amount == Decimal(major)
    # Same digits, not just the same value: 1.250 KWD keeps its three decimals, 1200 JPY has none.
    assert str(amount) == major


def test_exponents_follow_iso_4217_case_insensitively() -> None:
    assert [currency_exponent(code) for code in ("usd", "EUR", "jpy", "KRW", "kwd", "BHD")] == [
        2,
        2,
        0,
        0,
        3,
        3,
    ]


@pytest.mark.parametrize("amount", [12.34, 12.0, True, False, "1234", Decimal("1234")])
def test_non_integer_minor_amounts_are_refused(amount: object) -> None:
    with pytest.raises(TypeError) as raised:
        minor_to_major(amount, "usd")  # type: ignore[arg-type]

    assert "minor-unit amount must be an integer" in str(raised.value)
    assert repr(amount) in str(raised.value)

"""Minor units to exact major units by ISO 4217 exponent; no floats on the money path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recon.money import Currencies, currency_exponent, declared_currency_problems, minor_to_major


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


def test_declared_codes_convert_by_their_own_decimals_and_iso_codes_as_before() -> None:
    table = Currencies({"FLOW": 8, "USDC": 6, "POINTS": 0})

    assert str(minor_to_major(150000000, "flow", table)) == "1.50000000"
    assert str(minor_to_major(2500000, "USDC", table)) == "2.500000"
    assert str(minor_to_major(40, "POINTS", table)) == "40"
    assert str(minor_to_major(1250, "KWD", table)) == "1.250"
    assert [table.knows(code) for code in ("flow", "USD", "EUR", "USDT", "X")] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_an_unknown_code_is_explained_with_the_declared_ones() -> None:
    assert Currencies({"FLOW": 8}).unknown("USDT") == (
        "is not an ISO 4217 code nor one the spec declares under currencies (declared: FLOW)"
    )
    assert "(declared: none)" in Currencies().unknown("FLOW")


@pytest.mark.parametrize(
    ("declared", "problem"),
    [
        ({"JPY": 2}, "currencies.JPY: JPY is an ISO 4217 currency with 0 decimals, not 2"),
        ({"flow": 8}, "currencies.flow: a code is 2 to 12 upper-case letters and digits"),
        ({"F": 8}, "currencies.F: a code is 2 to 12"),
        ({"ABCDEFGHIJKLM": 8}, "currencies.ABCDEFGHIJKLM: a code is 2 to 12"),
        (
            {"123": 2},
            "currencies.123: a code is 2 to 12 upper-case letters and digits with at least one letter",
        ),
    ],
)
def test_a_bad_declaration_is_named(declared: dict, problem: str) -> None:
    problems = declared_currency_problems(declared)

    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_good_declarations_and_an_iso_code_with_its_own_decimals_pass() -> None:
    assert (
        declared_currency_problems({"FLOW": 8, "USDC": 6, "ETH": 18, "POINTS": 0, "1INCH": 18, "KWD": 3})
        == []
    )

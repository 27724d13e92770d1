"""Personal data is masked before it reaches a log, alert or stored detail; other values stay readable."""

from __future__ import annotations

import pytest

from recon.masking import mask_email, mask_text, mask_values


def test_an_email_keeps_only_first_letters_and_top_level_domain() -> None:
    assert mask_email("ada.lovelace@example.com") == "a***@e***.com"
    assert mask_email("g.hopper+billing@mail.navy.mil") == "g***@m***.mil"


def test_a_value_that_is_not_an_email_is_masked_whole_and_none_stays_none() -> None:
    assert mask_email("ada lovelace") == "***"
    assert mask_email("ada.lovelace@example") == "***"
    # Partly email-shaped is not an email: nothing of it may leak, not even the first name.
    assert mask_email("ada lovelace@example.com") == "***"
    assert mask_email("Ada <ada@example.com>") == "***"
    assert mask_email("") == "***"
    assert mask_email(None) is None


def test_emails_inside_free_text_are_masked() -> None:
    text = "customer ada.lovelace@example.com and grace@navy.mil disputed"

    assert mask_text(text) == "customer a***@e***.com and g***@n***.mil disputed"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call +254 712 345 678 today", "call ***78 today"),
        ("call +254712345678 today", "call ***78 today"),
        ("call +44-20-7946-0958 today", "call ***58 today"),
        ("call 0712345678 today", "call ***78 today"),
        ("tel:0712345678.", "tel:***78."),
    ],
)
def test_phone_numbers_are_masked_to_their_last_two_digits(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "window 2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00",
        "created 2026-11-19 23:59:59 UTC",
        "amount 12345.67 USD vs 12345.66 USD (diff 0.01)",
        "amount 1200 JPY, 1.250 KWD, total 1234567890.00",
        "charge ch_3NqZ0712345678abcdefghij",
        "charge ch_0712345678 and payment pay_0712345678abcdef",
        "run stripe_billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00 had 17 breaks",
    ],
)
def test_dates_amounts_and_ids_stay_readable(text: str) -> None:
    assert mask_text(text) == text


def test_nested_values_are_masked_everywhere_and_non_strings_are_kept() -> None:
    value = {
        "partial_unexpected_list": ["ada@example.com", None, 3],
        "nested": {"note": "reach me on +254 712 345 678", "count": 2},
        "element_count": 10,
    }

    assert mask_values(value) == {
        "partial_unexpected_list": ["a***@e***.com", None, 3],
        "nested": {"note": "reach me on ***78", "count": 2},
        "element_count": 10,
    }

"""Personal data is masked before it reaches a log, alert or stored detail; other values stay readable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from recon.masking import PersonalFields, mask_email, mask_personal, mask_text, mask_values


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
        # M-Pesa and other mobile-money forms: MSISDN without +, national, grouped, with (0).
        ("payer 254712345678 paid", "payer ***78 paid"),
        ("payer 255 754 123 456", "payer ***56"),
        ("payer 2547 1234 5678", "payer ***78"),
        ("payer 2348031234567", "payer ***67"),
        ("call 0712 345 678", "call ***78"),
        ("call 0712-345-678", "call ***78"),
        ("call 071 234 5678", "call ***78"),
        ("call (0)712 345 678", "call ***78"),
        ("call +254 (0)712 345 678", "call ***78"),
        ("call +254 712-345-678", "call ***78"),
        ('{"msisdn": "254712345678"}', '{"msisdn": "***78"}'),
        ("msisdn=254712345678&amount=100", "msisdn=***78&amount=100"),
        ("paid by 0712 345 678, order 4471", "paid by ***78, order 4471"),
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
        # Not phones: long order ids, ids with a prefix, compact times, amounts and their decimals.
        "order 123456789012 and 98765432109876",
        "charge ch_254712345678, order ORD-254712345678, tx TX254712345678",
        "batch 202611190000 at 20261119 1200 0000",
        "window 2026-11-19T21:00:00+03:00 to 2026-11-19T21:15:00+03:00",
        "amount 1254712345.67 KES, 0.0712345678 ETH, 712,345,678.00 UGX",
        "id 25471234567890 is longer than any MSISDN, 07123456789 than a national number",
        "times 0712:3456:78 and 2026-07-12",
        "decimal comma 0712345678,50 and 254712345678.25",
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


def test_a_personal_value_is_masked_at_any_depth_and_a_phone_read_as_a_number_becomes_text() -> None:
    assert mask_personal(254712345678) == "***78"
    assert mask_personal(42) == 42
    assert mask_personal(None) is None
    assert mask_personal({"payer": {"msisdn": "0712 345 678", "name": "Wanjiru"}, "ids": [254712345678]}) == {
        "payer": {"msisdn": "***78", "name": "Wanjiru"},
        "ids": ["***78"],
    }


@pytest.mark.parametrize(
    ("personal", "message"),
    [
        (["record_key"], "record_key cannot be masked"),
        (["amount"], "'amount' is not a field that can be masked"),
        (["attributes.Bad-name"], "'attributes.Bad-name' is not a field that can be masked"),
    ],
)
def test_only_maskable_fields_can_be_personal(personal: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        PersonalFields(personal=personal)

    assert message in str(raised.value)


def test_attributes_as_a_whole_makes_every_attribute_personal() -> None:
    fields = PersonalFields(personal=["reference", "attributes"])
    one = PersonalFields(personal=["attributes.msisdn"])

    assert [fields.is_personal(f) for f in ("reference", "attributes.msisdn", "status")] == [
        True,
        True,
        False,
    ]
    assert [one.is_personal(f) for f in ("attributes.msisdn", "attributes.note", "reference")] == [
        True,
        False,
        False,
    ]

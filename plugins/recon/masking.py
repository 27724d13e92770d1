"""Mask personal data (emails, phone numbers) before it reaches a log, an alert or a stored detail."""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})")
# Phone numbers in the forms people and mobile-money systems write them. Narrow on purpose: dates,
# amounts, ISO times, record ids (ch_0712345678) and long order ids must stay readable in logs.
# - international: + then 8 to 15 digits, with the usual separators ("+254 (0)712-345 678");
# - MSISDN without +: an African calling code (211-269, where mobile money writes numbers so) and a
#   9-digit national number ("254712345678", "255 754 123 456", "2547 1234 5678"); Nigeria's 10;
# - national: 0 then 9 digits, grouped or not ("0712345678", "0712 345 678", "071-234-5678"), or
#   "(0)712 345 678".
# A digit string inside a word or a longer number (an id, an amount's decimals) is never one.
_SEP = r"[ -]?"
_BEFORE = r"(?<![\w+.,-])"  # not inside a word, an id, a number or a date
_AFTER = r"(?![\w,]|[.:/-]\d)"  # nor followed by more of one
_INTERNATIONAL = r"\+\d(?:[\s().-]{0,2}\d){7,14}"
_MSISDN = (
    rf"(?:2[1-6]\d{_SEP}[1-9]\d\d|234{_SEP}[789][01]\d\d){_SEP}\d{{3}}{_SEP}\d{{3}}"
    rf"|2[1-6]\d[1-9]{_SEP}\d{{4}}{_SEP}\d{{4}}"
)
_NATIONAL = (
    rf"(?:0\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}}|0\d\d{_SEP}\d{{3}}{_SEP}\d{{4}}"
    rf"|\(0\)\s?\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}})"
)
_PHONE = re.compile(rf"{_INTERNATIONAL}|{_BEFORE}(?:{_MSISDN}|{_NATIONAL}){_AFTER}")


def mask_email(email: str | None) -> str | None:
    """``ada.lovelace@example.com`` -> ``a***@e***.com``; anything else is masked whole."""
    if email is None:
        return None
    # Only a whole email keeps its shape; "ada lovelace@x.io" is not one and must not leak "ada".
    return _EMAIL.sub(r"\1***@\2***\3", email) if _EMAIL.fullmatch(email) else "***"


def mask_text(text: str) -> str:
    """Mask every email and phone number found inside free text."""
    text = _EMAIL.sub(r"\1***@\2***\3", text)
    return _PHONE.sub(lambda match: "***" + re.sub(r"\D", "", match.group())[-2:], text)


def mask_values(value: Any) -> Any:
    """Mask strings anywhere inside nested lists and dicts."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [mask_values(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_values(item) for key, item in value.items()}
    return value

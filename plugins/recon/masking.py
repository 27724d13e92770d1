"""Mask personal data (emails, phone numbers) before it reaches a log, an alert or a stored detail."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, field_validator

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
_AFTER = r"(?!\w|[.,:/-]\d)"  # nor followed by more of one
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


# Canonical fields a source may declare personal; record_key is left out on purpose (see below).
PERSONAL_FIELDS = ("reference", "customer_email", "status", "group_key", "attributes")


class PersonalFields(BaseModel):
    """Mixed into source models: ``personal`` names the fields whose values may hold a phone number
    or an email (``[reference, attributes.msisdn]``). Each is masked as it is loaded, so staging,
    quarantine and everything read from them never hold it in clear. A record key cannot be one: it
    is what a record is matched and corrected by, and a masked key (``***78``) would make unrelated
    records equal; the spec refuses a personal field it matches on (``recon.spec``)."""

    personal: list[str] = []

    @field_validator("personal")
    @classmethod
    def _canonical(cls, value: list[str]) -> list[str]:
        for name in value:
            if name == "record_key":
                raise ValueError(
                    "personal: record_key cannot be masked, it is what records are matched and corrected by"
                )
            if name not in PERSONAL_FIELDS and not re.fullmatch(r"attributes\.[a-z][a-z0-9_]*", name):
                raise ValueError(
                    f"personal: {name!r} is not a field that can be masked; use {', '.join(PERSONAL_FIELDS)}"
                    " or attributes.<name>"
                )
        return value

    def is_personal(self, field: str) -> bool:
        """Whether ``field`` (``reference``, ``attributes.msisdn``) is masked at load."""
        return field in self.personal or (field.startswith("attributes.") and "attributes" in self.personal)


def mask_personal(value: Any) -> Any:
    """A personal value as stored: every phone number and email in it masked, at any depth; a number
    that is a phone number (an MSISDN read as an integer) becomes masked text, any other is kept."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, list):
        return [mask_personal(item) for item in value]
    if isinstance(value, dict):
        return {key: mask_personal(item) for key, item in value.items()}
    return value

"""Mask personal data (emails, phone numbers) before it reaches a log, an alert or a stored detail."""

from __future__ import annotations

import re
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*(\.[A-Za-z]{2,})")
# International numbers (+ then 8 to 15 digits, with the usual separators) and national mobile
# numbers (0 then 9 digits). Narrow on purpose: dates, amounts and ids must stay readable in logs.
_PHONE = re.compile(r"\+\d(?:[\s().-]{0,2}\d){7,14}|\b0\d{9}\b")


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

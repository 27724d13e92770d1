"""Record keys as the results hold them: ``left_record_keys`` / ``right_record_keys`` are ``text[]``,
one key for a record, a group's keys sorted; psycopg reads them as lists. One way to show them."""

from __future__ import annotations

from collections.abc import Sequence


def shown(keys: Sequence[str] | None) -> str:
    """One side's keys on one line: ``ch_1``, or a group's ``ch_1, ch_2``; empty for no side."""
    return ", ".join(keys or ())


def both_sides(left: Sequence[str] | None, right: Sequence[str] | None) -> str:
    """Both sides' keys on one line, once when they agree: ``ch_1``, or ``po_1 / ch_1, ch_2``."""
    return " / ".join(dict.fromkeys(shown(keys) for keys in (left, right) if keys))

"""Key forms: how a source's (or a pair's) keys are normalised before they are compared.

Two systems often spell one account differently: a chain explorer writes ``0xAbC…`` in checksum case,
the app stores ``0xabc…``; a bank pads ``000123`` where the ledger has ``123``. A ``key_form`` says which
differences do not count, and the same form is applied everywhere a key is compared: in the dbt match
key (``recon_normalize_key``, dbt_project/macros/recon_key_form.sql), in probes (``recon run --key``) and
in corrections (a target row is looked up by its key in the target's form). ``normalize`` here and the
SQL of ``sql_expression`` and the dbt macro do the same steps in the same order; tests hold them equal.

The steps, in order: letter case (``lower``/``upper``), surrounding white space removed, a prefix
removed (in any letter case), leading zeros removed (the last digit of an all-zero key stays).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, model_validator

# What ``trim`` removes around a key: spaces, tabs and line breaks (Postgres ``btrim`` takes the set).
TRIMMED = " \t\r\n"
# Leading zeros, keeping the last character: ``000`` -> ``0``, ``007`` -> ``7``. The same pattern in
# Python (with DOTALL) and in Postgres (where ``.`` matches a line break by default).
_LEADING_ZEROS = r"^0+(?=.)"


class KeyForm(BaseModel):
    """Which differences between two spellings of a key do not count (docs/matching.md, "Key forms")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Letter case: keys compared lower-cased (or upper-cased); left out, case counts.
    case: Literal["lower", "upper"] | None = None
    # Spaces, tabs and line breaks around the key are removed.
    trim: bool = False
    # Removed from the start of a key that begins with it, in any letter case (``0x`` also takes ``0X``).
    # Printable ASCII without spaces, so the SQL pattern that finds it is the same everywhere.
    remove_prefix: Annotated[str, Field(pattern=r"^[!-~]{1,20}$")] | None = None
    # Leading zeros are removed: ``000123`` -> ``123``; an all-zero key keeps one (``000`` -> ``0``).
    remove_leading_zeros: bool = False

    @model_validator(mode="after")
    def _does_something(self) -> KeyForm:
        if self.is_identity:
            raise ValueError(
                "a key_form changes nothing: set case, trim, remove_prefix or remove_leading_zeros"
            )
        return self

    @property
    def is_identity(self) -> bool:
        return not (self.case or self.trim or self.remove_prefix or self.remove_leading_zeros)

    def normalize(self, key: str) -> str:
        """The key in this form, as the match key holds it."""
        value = key.lower() if self.case == "lower" else key.upper() if self.case == "upper" else key
        if self.trim:
            value = value.strip(TRIMMED)
        prefix = self.remove_prefix
        if prefix and value[: len(prefix)].lower() == prefix.lower():
            value = value[len(prefix) :]
        if self.remove_leading_zeros:
            value = re.sub(_LEADING_ZEROS, "", value, flags=re.DOTALL)
        return value

    @property
    def prefix_pattern(self) -> str:
        """The regular expression (Python's and Postgres's alike) that finds the prefix at the start."""
        return "^" + re.sub(r"([^A-Za-z0-9])", r"\\\1", self.remove_prefix or "")

    def settings(self) -> dict[str, Any]:
        """The form as ``staging.pair_settings.key_forms`` stores it (what the dbt macro reads)."""
        stored = self.model_dump(mode="json", exclude_defaults=True)
        return {**stored, "prefix_pattern": self.prefix_pattern} if self.remove_prefix else stored


def normalize(form: KeyForm | None, key: str) -> str:
    return key if form is None else form.normalize(key)


def sql_expression(form: KeyForm | None, value: sql.Composable) -> sql.Composable:
    """``value`` (a text SQL expression) in ``form``, for queries outside dbt (corrections' targets)."""
    if form is None:
        return value
    if form.case:
        value = sql.SQL("{}({})").format(sql.SQL(form.case), value)
    if form.trim:
        value = sql.SQL("btrim({}, {})").format(value, sql.Literal(TRIMMED))
    if form.remove_prefix:
        value = sql.SQL("regexp_replace({}, {}, '', 'i')").format(value, sql.Literal(form.prefix_pattern))
    if form.remove_leading_zeros:
        value = sql.SQL("regexp_replace({}, {}, '')").format(value, sql.Literal(_LEADING_ZEROS))
    return value


def side_forms(spec: Any, pair_name: str) -> tuple[KeyForm | None, KeyForm | None]:
    """The key forms of a pair's left and right side: the pair's own, else each source's."""
    for pair in spec.pairs:
        if pair.pair_name == pair_name:
            if pair.key_form is not None:
                return pair.key_form, pair.key_form
            return _source_form(spec, pair.left), _source_form(spec, pair.right)
    return None, None


def source_side_form(spec: Any, pair_name: str, source: str) -> KeyForm | None:
    """The key form of ``source``'s side of the pair ``pair_name``."""
    left, right = side_forms(spec, pair_name)
    for pair in spec.pairs:
        if pair.pair_name == pair_name:
            return left if pair.left == source else right
    return None


def _source_form(spec: Any, name: str) -> KeyForm | None:
    for source in spec.sources:
        if source.name == name:
            return source.key_form
    return None

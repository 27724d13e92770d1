"""How a CSV file is read (its dialect) and mapped into canonical records: the spec's ``CsvFormat``.

A file source's spec model inherits ``CsvFormat``; the loader (``recon.staging.csv_loader``) reads
only this model, so every file source type gets the same dialects. ``resolve`` turns the format and
the header actually found in a file into a ``CsvLayout`` (column positions), so a missing column fails
with the file and line before a single row is read.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from recon.masking import PersonalFields
from recon.money import CODE_TEXT, DeclaredCurrencies
from recon.sources.base import StrictModel

ATTRIBUTE_NAME = r"^[a-z][a-z0-9_]*$"
# A column is named by its header text, or by its 1-based position (files without a header).
ColumnRef = Annotated[str, Field(min_length=1)] | Annotated[int, Field(ge=1)]
Char = Annotated[str, Field(min_length=1, max_length=1)]


class Extract(StrictModel):
    """A value taken out of free text: the first group of ``pattern`` searched in ``column``."""

    column: ColumnRef
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"pattern {value!r} is not a regular expression: {exc}") from None
        if groups != 1:
            raise ValueError(f"pattern {value!r} must have exactly one (group), it has {groups}")
        return value


FieldRef = ColumnRef | Extract


class CsvFields(StrictModel):
    """Which column feeds each canonical field (a name, a 1-based number, or ``{column, pattern}``)."""

    record_key: FieldRef
    amount: FieldRef | None = None  # left out when ``debit_credit`` names debit and credit columns
    currency: FieldRef | None = None  # left out when the format sets a fixed ``currency``
    occurred_at: FieldRef
    status: FieldRef | None = None
    customer_email: FieldRef | None = None
    reference: FieldRef | None = None
    group_key: FieldRef | None = None


class DebitCreditIndicator(StrictModel):
    """One amount column plus a column saying debit or credit; debits are loaded negative."""

    indicator: ColumnRef
    debit: list[str] = Field(min_length=1)  # indicator values meaning debit, e.g. ["D", "DR"]
    credit: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _disjoint(self) -> DebitCreditIndicator:
        both = set(self.debit) & set(self.credit)
        if both:
            raise ValueError(f"indicator values {sorted(both)} are both debit and credit")
        return self


class DebitCreditColumns(StrictModel):
    """Separate debit and credit amount columns (one of them filled per row); debits are negative."""

    debit_amount: ColumnRef
    credit_amount: ColumnRef


class CsvFormat(StrictModel, DeclaredCurrencies, PersonalFields):
    """The dialect of a CSV file and the mapping of its columns into canonical records."""

    fields: CsvFields
    # Extra columns kept in ``attributes`` (jsonb). Only these: unmapped columns are not loaded.
    attributes: dict[Annotated[str, Field(pattern=ATTRIBUTE_NAME)], FieldRef] = {}
    amount_unit: Literal["major", "minor"] = "major"
    # A fixed currency: an ISO 4217 code or one the spec declares under ``currencies`` (the spec checks).
    currency: Annotated[str | None, Field(pattern=CODE_TEXT)] = None
    debit_credit: DebitCreditIndicator | DebitCreditColumns | None = None
    delimiter: Char = ","
    quote: Char | None = '"'  # null: no quoting at all
    escape: Char | None = None  # null: a quote inside a quoted value is doubled ("")
    header: bool = True
    columns: list[Annotated[str, Field(min_length=1)]] | None = None  # names, for files without header
    skip_lines: Annotated[int, Field(ge=0)] = 0  # preamble lines before the header (or the data)
    encoding: str = "utf-8"  # any Python codec name: latin-1, cp1252, utf-8-sig, ...
    decimal: Literal[".", ","] = "."
    thousands: Literal["", ".", ",", " ", "'"] = ""
    date_format: str | None = None  # strptime, e.g. "%d.%m.%Y"; read as midnight in ``timezone``
    datetime_format: str | None = None  # strptime, e.g. "%d.%m.%Y %H:%M"; default ISO 8601
    timezone: str = "UTC"  # the zone of times that carry no offset

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; use a Python codec name like 'cp1252'") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from None
        return value

    @field_validator("date_format", "datetime_format")
    @classmethod
    def _strptime_format(cls, value: str | None) -> str | None:
        if value is None:
            return value
        sample = datetime(2001, 2, 3, 4, 5, 6)
        try:
            datetime.strptime(sample.strftime(value), value)
        except ValueError as exc:
            raise ValueError(f"format {value!r} cannot be read back by strptime: {exc}") from None
        if "%" not in value:
            raise ValueError(f"format {value!r} has no % directive")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CsvFormat:
        if self.thousands == self.decimal:
            raise ValueError(f"decimal and thousands separators are both {self.decimal!r}")
        if self.fields.currency is None and self.currency is None:
            raise ValueError("map fields.currency or set a fixed currency for the file")
        separate = isinstance(self.debit_credit, DebitCreditColumns)
        if separate and self.fields.amount is not None:
            raise ValueError("fields.amount and debit_credit debit_amount/credit_amount exclude each other")
        if not separate and self.fields.amount is None:
            raise ValueError("map fields.amount, or debit_credit with debit_amount and credit_amount")
        if self.columns is not None:
            if self.header:
                raise ValueError("columns names the columns of a file without header; set header: false")
            duplicates = sorted({name for name in self.columns if self.columns.count(name) > 1})
            if duplicates:
                raise ValueError(f"columns has duplicate names {duplicates}")
        if self.quote is not None and self.quote == self.delimiter:
            raise ValueError("quote and delimiter are the same character")
        if self.escape is not None and self.escape in (self.delimiter, self.quote):
            raise ValueError("escape must differ from delimiter and quote")
        if not self.header and self.columns is None:
            named = sorted(str(ref) for _, ref in self.column_refs() if isinstance(ref, str))
            if named:
                raise ValueError(
                    f"without header and columns, refer to columns by 1-based number, not by name {named}"
                )
        return self

    def column_refs(self) -> list[tuple[str, ColumnRef]]:
        """Every (what, column) this format reads; ``what`` names the field for error messages."""
        refs: list[tuple[str, ColumnRef]] = []
        for name, ref in [*self.fields, *((f"attributes.{k}", v) for k, v in self.attributes.items())]:
            if ref is not None:
                refs.append((name, ref.column if isinstance(ref, Extract) else ref))
        if isinstance(self.debit_credit, DebitCreditIndicator):
            refs.append(("debit_credit.indicator", self.debit_credit.indicator))
        elif isinstance(self.debit_credit, DebitCreditColumns):
            refs.append(("debit_credit.debit_amount", self.debit_credit.debit_amount))
            refs.append(("debit_credit.credit_amount", self.debit_credit.credit_amount))
        return refs


class LayoutError(ValueError):
    """The file's columns do not fit the format; the message says which column is missing."""


@dataclass(frozen=True)
class CsvLayout:
    """A format resolved against one file's columns: every reference is a 0-based position."""

    format: CsvFormat
    names: tuple[str, ...]  # the file's column names (header, ``columns``, or "1", "2", ...)
    positions: dict[str, int]  # "record_key", "attributes.x", "debit_credit.indicator" -> position

    def position(self, what: str) -> int | None:
        return self.positions.get(what)

    @property
    def width(self) -> int:
        return len(self.names)


def resolve(fmt: CsvFormat, header: list[str] | None, width: int) -> CsvLayout:
    """Positions of the format's columns in a file whose header is ``header`` (None: no header).

    ``width`` is the field count of the first row, used when neither a header nor ``columns`` names
    the columns. Raises ``LayoutError`` naming the first field whose column is not there.
    """
    if header is not None:
        names = [name.strip() for name in header]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise LayoutError(f"duplicate column names {duplicates}")
    elif fmt.columns is not None:
        names = list(fmt.columns)
    else:
        names = [str(number) for number in range(1, width + 1)]
    positions: dict[str, int] = {}
    for what, ref in fmt.column_refs():
        if isinstance(ref, int):
            if ref > len(names):
                raise LayoutError(
                    f"column {ref} (mapped to {what!r}) is beyond the file's {len(names)} columns"
                )
            positions[what] = ref - 1
        elif ref in names:
            positions[what] = names.index(ref)
        else:
            raise LayoutError(f"column {ref!r} (mapped to field {what!r}) is not in the header {names}")
    return CsvLayout(format=fmt, names=tuple(names), positions=positions)

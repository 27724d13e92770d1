"""The spec's ``corrections`` section: which system is corrected, where, and how its columns map.

The corrected system is one of the spec's sources (``source``), the side that is *not* the source
of truth; the other side of its pair is the truth. It is written through a connection of its own
with write rights, never the read-only connection the source is extracted with.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = r"^[a-z_][a-z0-9_]*$"
Column = Annotated[str, Field(pattern=IDENTIFIER)]
CorrectableClass = Literal[
    "missing", "amount_mismatch", "currency_mismatch", "status_mismatch", "duplicate", "balance_mismatch"
]
# The canonical fields a correction may write, each to the column ``columns`` maps it to.
Writable = Literal["amount", "currency", "status", "occurred_at", "customer_email", "reference"]


class CorrectionTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # The spec's source whose system is corrected (not the source of truth).
    source: Annotated[str, Field(pattern=IDENTIFIER)]
    # An Airflow postgres connection with write rights on the table (not the source's own connection).
    connection: str
    # The table, optionally schema-qualified: ticket_sales or public.ticket_sales.
    table: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")]
    # The column holding the record key (what the source maps to record_key). Rows are looked up by it
    # in the target side's key form (the pair's or the source's ``key_form``), so ``0xABC`` finds ``0xabc``.
    key: Column
    # The key of an inserted row: ``{key}`` is the truth's key in the target side's key form; text
    # around it is kept (``0x{key}`` for a target that stores the prefix its key form removes).
    insert_key: Annotated[str, Field(pattern=r"^[^{}]*\{key\}[^{}]*$")] = "{key}"
    # The row's own primary key, when one record key may have several rows; default: ``key``.
    row_id: Column | None = None
    # Which of several rows of one key is the original (kept when duplicates are removed): the
    # earliest by this column; default: ``row_id``.
    order_by: Column | None = None
    # Canonical field -> column, for the fields a correction writes.
    columns: Annotated[dict[Writable, Column], Field(min_length=1)]
    # The truth's status -> the corrected system's word for it; a status not listed is written as is.
    status_values: dict[str, str] = {}
    # Constant values for other columns of an inserted row (e.g. the till that "sold" it).
    insert_values: dict[Column, str | int | bool] = {}
    # The row id of an inserted row, from the record key (e.g. "recon-{record_key}"), when ``row_id``
    # is not the key and the table has no default for it.
    insert_row_id: Annotated[str, Field(pattern=r"\{record_key\}")] | None = None
    # Which break classes may be corrected.
    classes: list[CorrectableClass] = ["missing", "amount_mismatch", "status_mismatch", "duplicate"]
    # Amount mismatches up to this (major units, inclusive) are applied by the run itself.
    auto_apply_up_to: Annotated[Decimal, Field(ge=0)] | None = None

    @property
    def row_column(self) -> str:
        return self.row_id or self.key

    @property
    def order_column(self) -> str:
        return self.order_by or self.row_column

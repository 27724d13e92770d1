"""What every source type is: a spec model that can open a window of its data.

There are two kinds, because staging loads them two ways:

* a ``RecordSource`` (APIs, databases) yields canonical or quarantined records, page by page;
  staging streams them into COPY in batches;
* a ``FileSource`` (SFTP files) yields whole files spooled to local disk; staging parses and loads
  each file in bulk (``recon.staging.csv_loader``), which is far faster than record by record.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from recon.key_forms import KeyForm
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.window import RunWindow

NAME = r"^[a-z][a-z0-9_]*$"


class StrictModel(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them instead of ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True)


def exact_decimal(value: object) -> object:
    """A ``mode="before"`` validator body: YAML reads 0.1 as a float, go through its text instead."""
    return str(value) if isinstance(value, float) else value


class SourceConfig(StrictModel):
    """Fields every source has. Subclasses add ``type: Literal[...]`` and their own settings."""

    # Whether the type's amounts carry a sign by nature (a refund or a debit is negative). The
    # default ``amount_not_negative`` rule checks only sources whose amounts are not signed.
    SIGNED_AMOUNTS: ClassVar[bool] = False

    name: Annotated[str, Field(pattern=NAME)]
    connection: str
    # The share of a window's (or a file's) rows that may be quarantined before the extract fails.
    max_rejected_share: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.01")
    # The source's amounts are signed (a ledger, a bank statement, a POS export with returns); left
    # out, the source type's own convention (``SIGNED_AMOUNTS``).
    signed_amounts: bool | None = None
    # How this source's keys are normalised wherever they are matched (record_key, group_key, a
    # reference used as a key): letter case, spaces, a prefix, leading zeros (docs/matching.md).
    key_form: KeyForm | None = None

    @field_validator("max_rejected_share", mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        return exact_decimal(value)

    @property
    def has_signed_amounts(self) -> bool:
        if self.signed_amounts is not None:
            return self.signed_amounts
        # A file whose debit/credit indicator turns debits negative (sftp_csv) is signed by its mapping.
        return self.SIGNED_AMOUNTS or getattr(self, "debit_credit", None) is not None

    @property
    def windowed_by_occurred_at(self) -> bool:
        """Whether every record read lies in the window by its ``occurred_at`` (so the default
        ``occurred_at_in_window`` rule fits). False where records are selected by another key."""
        return True


class RecordSource(SourceConfig):
    """A source read record by record: ``read`` yields the window's records, one page at a time."""

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        raise NotImplementedError


@dataclass(frozen=True)
class FetchedFile:
    """One remote file, copied whole to local disk before anything of it is loaded."""

    local_path: Path
    origin: str  # where it came from, e.g. sftp://bank_sftp/statements/2026-11-19.csv
    remote_path: str
    size: int
    sha256: str
    modified_at: Any = None  # datetime of the remote file, when the server says


class FileSource(SourceConfig):
    """A source read as files: ``files`` yields each of the window's files, spooled locally."""

    def files(self, window: RunWindow, workdir: Path) -> AbstractContextManager[Iterator[FetchedFile]]:
        raise NotImplementedError

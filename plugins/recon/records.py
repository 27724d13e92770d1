"""The canonical record: the one shape every source is mapped into before matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class CanonicalRecord:
    record_key: str
    # Exact, major units. None only for a reference that maps no amount (a catalogue holds no money).
    amount: Decimal | None
    currency: str | None  # ISO 4217, upper case; None when the source maps no amount nor currency
    # Timezone-aware; None only for a source read whole (a snapshot), which needs no time.
    occurred_at: datetime | None
    origin: str  # the file or API page the record came from
    origin_line: int | None = None
    status: str | None = None
    customer_email: str | None = None
    reference: str | None = None
    group_key: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuarantinedRecord:
    """A record that could not be mapped; kept with its reason and origin, never dropped."""

    reason: str
    raw: dict[str, Any] | str
    origin: str
    origin_line: int | None = None
    record_key: str | None = None

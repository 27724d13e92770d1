"""The run key: one spec over one half-open time window ``[start, end)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class RunWindow:
    """Every write of a run is keyed by this, so rerunning a window replaces what it wrote."""

    spec: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: start {self.start} is not before end {self.end}")
        # Stored in UTC so the run id is the same whatever timezone the caller used, and as plain
        # datetimes: Airflow hands in pendulum ones, whose arithmetic with a timedelta drops tzinfo.
        object.__setattr__(self, "start", _plain_utc(self.start))
        object.__setattr__(self, "end", _plain_utc(self.end))

    @property
    def run_id(self) -> str:
        return f"{self.spec}/{self.start.isoformat()}/{self.end.isoformat()}"

    def widened(self, overlap: timedelta) -> RunWindow:
        """The window a run reads its sources over: ``overlap`` earlier, same end (spec window_overlap).

        Only for reading: the run's key, and every row it writes, stay this window's.
        """
        return self if not overlap else RunWindow(self.spec, self.start - overlap, self.end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def as_dict(self) -> dict[str, str]:
        """The JSON-safe form that travels between tasks (XCom) and into dbt vars."""
        return {
            "spec": self.spec,
            "run_id": self.run_id,
            "window_start": self.start.isoformat(),
            "window_end": self.end.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RunWindow:
        return cls(
            spec=data["spec"],
            start=datetime.fromisoformat(data["window_start"]),
            end=datetime.fromisoformat(data["window_end"]),
        )


def _plain_utc(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=UTC
    )

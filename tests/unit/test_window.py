"""The run key: one spec over a half-open UTC window, the same whatever timezone the caller used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from recon.window import RunWindow

START = datetime(2026, 11, 19, tzinfo=UTC)
END = datetime(2026, 11, 20, tzinfo=UTC)


def test_run_id_names_the_spec_and_both_bounds() -> None:
    window = RunWindow("stripe_billing", START, END)

    assert window.run_id == "stripe_billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"


def test_bounds_in_another_timezone_are_stored_in_utc_and_give_the_same_run_id() -> None:
    nairobi = timezone(timedelta(hours=3))
    window = RunWindow(
        "stripe_billing", datetime(2026, 11, 19, 3, tzinfo=nairobi), datetime(2026, 11, 20, 3, tzinfo=nairobi)
    )

    assert window.start.utcoffset() == timedelta(0)
    assert window.end.utcoffset() == timedelta(0)
    assert (window.start, window.end) == (START, END)
    assert window.run_id == RunWindow("stripe_billing", START, END).run_id


def test_the_window_is_half_open() -> None:
    window = RunWindow("s", START, END)

    assert window.contains(START)
    assert window.contains(END - timedelta(microseconds=1))
    assert not window.contains(END)
    assert not window.contains(START - timedelta(seconds=1))


@pytest.mark.parametrize("end", [START, START - timedelta(hours=1)])
def test_an_empty_or_reversed_window_is_rejected(end: datetime) -> None:
    with pytest.raises(ValueError) as raised:
        RunWindow("s", START, end)

    assert "empty window" in str(raised.value)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 11, 19), END),
        (START, datetime(2026, 11, 20)),
        (datetime(2026, 11, 19), datetime(2026, 11, 20)),
    ],
)
def test_naive_bounds_are_rejected(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError) as raised:
        RunWindow("s", start, end)

    assert str(raised.value) == "window bounds must be timezone-aware"


def test_the_dict_form_is_json_safe_and_round_trips() -> None:
    window = RunWindow("stripe_billing", START, END)

    data = window.as_dict()

    assert data == {
        "spec": "stripe_billing",
        "run_id": "stripe_billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00",
        "window_start": "2026-11-19T00:00:00+00:00",
        "window_end": "2026-11-20T00:00:00+00:00",
    }
    assert RunWindow.from_dict(data) == window
    assert RunWindow.from_dict(data).run_id == data["run_id"]


def test_pendulum_bounds_become_plain_utc_datetimes_that_keep_their_zone_in_arithmetic() -> None:
    import pendulum

    window = RunWindow(
        "s", pendulum.datetime(2026, 11, 19, tz="Europe/Berlin"), pendulum.datetime(2026, 11, 20)
    )

    assert type(window.start) is datetime
    assert window.start == datetime(2026, 11, 18, 23, tzinfo=UTC)
    assert (window.end - timedelta(days=400)).tzinfo is not None

"""How record keys (text[] in the results) are shown on one line: alerts, the breaks CLI, the probe."""

from __future__ import annotations

from recon.record_keys import both_sides, shown


def test_one_side_shows_its_keys_joined_and_nothing_for_no_side() -> None:
    assert shown(["ch_1"]) == "ch_1"
    assert shown(["ch_a", "ch_b"]) == "ch_a, ch_b"
    assert shown(["ref,with,commas"]) == "ref,with,commas"
    assert shown(None) == shown([]) == ""


def test_both_sides_show_once_when_they_agree() -> None:
    assert both_sides(["ch_1"], ["ch_1"]) == "ch_1"
    assert both_sides(["ch_1"], None) == "ch_1"
    assert both_sides(None, ["ch_2"]) == "ch_2"
    assert both_sides(["po_1"], ["ch_a", "ch_b"]) == "po_1 / ch_a, ch_b"
    assert both_sides(None, None) == ""

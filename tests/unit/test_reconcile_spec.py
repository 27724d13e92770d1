"""The spec's reconcile section: defaults, validation with located errors, and the settings rows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from recon.matching import settings_rows
from recon.spec import SpecError, load_spec

FIELDS = {"record_key": "id", "amount": "amount", "currency": "cur", "occurred_at": "at"}
SOURCE = {"type": "sftp_csv", "connection": "c", "path": "/x.csv", "fields": FIELDS}


def write_spec(tmp_path: Path, reconcile: dict | None, sources: tuple[str, ...] = ("app", "psp")) -> Path:
    document = {
        "name": "payments",
        "description": "test",
        "owner": "tests",
        "schedule": "@daily",
        "sources": [{"name": name, **SOURCE} for name in sources],
    }
    if reconcile is not None:
        document["reconcile"] = reconcile
    path = tmp_path / "payments.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return str(raised.value)


def test_two_sources_without_a_reconcile_section_are_one_pair_by_record_key(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, None))

    (pair,) = spec.pairs
    assert (pair.left, pair.right, pair.pair_name) == ("app", "psp", "app_vs_psp")
    assert (pair.key_fields.left, pair.key_fields.right) == (["record_key"], ["record_key"])
    assert pair.compare.amount.tolerance == Decimal(0)
    assert spec.reconcile.tolerance_percent == Decimal(0)
    assert spec.reconcile.severity.critical_percent == Decimal(5)
    assert spec.reconcile.severity.min_amount == Decimal(0)
    assert pair.duplicates.copy_within == timedelta(minutes=5)
    assert pair.duplicates.near is not None and pair.duplicates.near.within == timedelta(minutes=5)


def test_three_sources_need_their_pairs_listed(tmp_path: Path) -> None:
    message = load_error(write_spec(tmp_path, None, ("app", "psp", "bank")))

    assert "field 'reconcile' (line 1): with more than two sources, list the pairs to reconcile" in message


def test_a_pair_naming_an_unknown_source_is_located(tmp_path: Path) -> None:
    path = write_spec(tmp_path, {"pairs": [{"left": "app", "right": "bank"}]})

    message = load_error(path)

    assert "field 'reconcile.pairs.0.right'" in message
    assert "no source 'bank'; the spec has ['app', 'psp']" in message
    assert "(line " in message


def test_the_old_match_section_points_to_reconcile(tmp_path: Path) -> None:
    path = write_spec(tmp_path, None)
    path.write_text(path.read_text() + "match:\n  amount_tolerance: '0.01'\n")

    assert "replaced by the 'reconcile' section" in load_error(path)


def test_durations_read_as_seconds_minutes_hours_or_days(tmp_path: Path) -> None:
    near = {"within": "10m", "fields": ["customer_email", "attributes.phone"]}
    pair = {"left": "app", "right": "psp", "timing": {"late_after": "90s", "settlement_window": "2h"},
            "rules": [{"name": "by_amount", "time_drift": "3d"}],
            "duplicates": {"copy_within": "1h", "near": near}}  # fmt: skip

    (parsed,) = load_spec(write_spec(tmp_path, {"pairs": [pair]})).pairs

    assert parsed.timing.late_after == timedelta(seconds=90)
    assert parsed.timing.settlement_window == timedelta(hours=2)
    assert parsed.rules[0].time_drift == timedelta(days=3)
    assert parsed.duplicates.near.within == timedelta(minutes=10)
    assert parsed.duplicates.copy_within == timedelta(hours=1)


def test_composite_keys_must_have_as_many_fields_on_each_side(tmp_path: Path) -> None:
    keys = {"left": ["attributes.store", "reference"], "right": ["attributes.store"]}

    message = load_error(write_spec(tmp_path, {"pairs": [{"left": "app", "right": "psp", "keys": keys}]}))

    assert "field 'reconcile.pairs.0.keys" in message
    assert "left has 2 key fields but right has 1" in message


def test_an_unknown_key_field_is_rejected(tmp_path: Path) -> None:
    message = load_error(
        write_spec(tmp_path, {"pairs": [{"left": "app", "right": "psp", "keys": ["amount"]}]})
    )

    assert "reconcile.pairs.0.keys" in message


def test_a_float_tolerance_stays_exact(tmp_path: Path) -> None:
    reconcile = {"pairs": [{"left": "app", "right": "psp", "compare": {"amount": {"tolerance": 0.1}}}],
                 "balances": [{"left": "psp", "right": "app", "tolerance": 0.00000001}]}  # fmt: skip

    spec = load_spec(write_spec(tmp_path, reconcile))

    assert str(spec.pairs[0].compare.amount.tolerance) == "0.1"
    assert spec.pairs[1].tolerance == Decimal("1e-8")


def test_settings_rows_flatten_every_pair(tmp_path: Path) -> None:
    reconcile = {
        "tolerance_percent": 1,
        "severity": {"critical_percent": 10, "min_amount": "20.50"},
        "stuck": [{"source": "psp", "statuses": ["processing"], "older_than": "30m"}],
        "pairs": [
            {"left": "app", "right": "psp", "compare": {"status": {"left": {"paid": "succeeded"}}},
             "duplicates": {"copy_within": "30s"},
             "rules": [{"name": "by_amount", "amount_tolerance": "0.01", "time_drift": "1h",
                        "reference": "contains"}]},
            {"left": "psp", "right": "bank", "group": {"side": "left", "by": "group_key"},
             "keys": {"left": ["record_key"], "right": ["reference"]}},
        ],
        "balances": [{"left": "app", "right": "bank", "tolerance": "0.00000001"}],
    }  # fmt: skip
    spec = load_spec(write_spec(tmp_path, reconcile, ("app", "psp", "bank")))

    records, grouped, balances = settings_rows(spec)

    assert (records["pair"], records["pair_kind"], records["group_side"]) == ("app_vs_psp", "records", None)
    assert records["left_status_map"].obj == {"paid": "succeeded"}
    assert records["right_status_map"].obj == {}
    assert records["fallback_rules"].obj == [
        {"rule_order": 1, "rule_name": "by_amount", "amount_tolerance": "0.01",
         "time_drift_seconds": 3600.0, "reference_mode": "contains"}
    ]  # fmt: skip
    assert (records["right_stuck_statuses"], records["right_stuck_after"]) == (
        ["processing"],
        timedelta(minutes=30),
    )
    assert records["left_stuck_statuses"] is None
    assert records["tolerance_percent"] == Decimal(1)
    assert (records["critical_percent"], records["critical_min_amount"]) == (Decimal(10), Decimal("20.50"))
    assert records["copy_within"] == timedelta(seconds=30)
    assert grouped["copy_within"] == timedelta(minutes=5)
    # The grouped side is keyed by what it is grouped by.
    assert (grouped["left_keys"], grouped["right_keys"], grouped["group_side"]) == (
        ["group_key"],
        ["reference"],
        "left",
    )
    assert grouped["left_status_map"] is None
    # Keyed by record_key on both sides: each holds one row per entity, neither is summed.
    assert (balances["pair"], balances["pair_kind"], balances["group_side"]) == (
        "app_vs_bank_balances",
        "balances",
        None,
    )
    assert balances["amount_tolerance"] == Decimal("0.00000001")
    assert balances["near_fields"] is None
    assert (balances["copy_within"], balances["critical_min_amount"]) == (timedelta(0), Decimal("20.50"))


def test_a_grouped_pair_needs_a_single_key_field(tmp_path: Path) -> None:
    pair = {"left": "app", "right": "psp", "keys": ["record_key", "reference"], "group": {"side": "right"}}

    message = load_error(write_spec(tmp_path, {"pairs": [pair]}))

    assert "field 'reconcile.pairs.0'" in message
    assert "give the other side one key field" in message


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"severity": {"min_amount": "-1"}}, "reconcile.severity.min_amount"),
        ({"pairs": [{"left": "app", "right": "psp", "duplicates": {"copy_within": "-5m"}}]},
         "reconcile.pairs.0.duplicates.copy_within"),
    ],
)  # fmt: skip
def test_a_negative_min_amount_or_copy_window_is_located(tmp_path: Path, section: dict, field: str) -> None:
    message = load_error(write_spec(tmp_path, section))

    assert f"field '{field}'" in message


def write_keyed_spec(tmp_path: Path, reconcile: dict, source_forms: dict[str, dict]) -> Path:
    """A spec whose sources declare the key forms given (by source name)."""
    path = write_spec(tmp_path, reconcile, ("app", "psp", "bank"))
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for source in document["sources"]:
        if source["name"] in source_forms:
            source["key_form"] = source_forms[source["name"]]
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_key_forms_reach_the_settings_per_side_a_pairs_own_replacing_its_sources(tmp_path: Path) -> None:
    reconcile = {
        "pairs": [
            {"left": "app", "right": "psp"},
            {"left": "psp", "right": "bank", "key_form": {"case": "upper", "trim": True}},
        ],
        "balances": [{"left": "app", "right": "bank"}],
    }
    forms = {"app": {"case": "lower", "remove_prefix": "0x"}, "bank": {"remove_leading_zeros": True}}
    spec = load_spec(write_keyed_spec(tmp_path, reconcile, forms))

    records, keyed_by_pair, balances = settings_rows(spec)

    assert records["key_forms"].obj == {
        "left": {"case": "lower", "remove_prefix": "0x", "prefix_pattern": "^0x"},
        "right": None,  # psp declares none: its keys are compared as they are
    }
    upper = {"case": "upper", "trim": True}
    assert keyed_by_pair["key_forms"].obj == {"left": upper, "right": upper}
    assert balances["key_forms"].obj == {
        "left": {"case": "lower", "remove_prefix": "0x", "prefix_pattern": "^0x"},
        "right": {"remove_leading_zeros": True},
    }
    plain = load_spec(write_spec(tmp_path, None))
    assert [row["key_forms"] for row in settings_rows(plain)] == [None]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"case": "title"}, "reconcile.pairs.0.key_form.case"),
        ({"trim": True, "strip": True}, "reconcile.pairs.0.key_form.strip"),
        ({"remove_prefix": "0 x"}, "reconcile.pairs.0.key_form.remove_prefix"),
        ({}, "a key_form changes nothing"),
    ],
)
def test_a_wrong_key_form_is_located(tmp_path: Path, form: dict, message: str) -> None:
    reconcile = {"pairs": [{"left": "app", "right": "psp", "key_form": form}]}

    error = load_error(write_spec(tmp_path, reconcile))

    assert message in error


def test_each_step_of_a_key_form() -> None:
    from recon.key_forms import KeyForm

    everything = KeyForm(case="lower", trim=True, remove_prefix="0x", remove_leading_zeros=True)
    assert everything.normalize(" 0XAB01\n") == "ab01"
    assert everything.normalize("0x0000") == "0"
    assert KeyForm(remove_leading_zeros=True).normalize("0042") == "42"
    assert KeyForm(remove_leading_zeros=True).normalize("4200") == "4200"
    assert KeyForm(remove_prefix="0x").normalize("0xab0x") == "ab0x"
    assert KeyForm(remove_prefix="0x").normalize("0XAB") == "AB"  # the prefix in any case, the rest kept
    assert KeyForm(case="upper").normalize("0xab") == "0XAB"
    assert KeyForm(trim=True).normalize("\t a b \r\n") == "a b"


def test_pending_rules_flatten_per_side_with_the_settlement_window_as_a_both_sides_rule(
    tmp_path: Path,
) -> None:
    timing = {
        "settlement_window": "5m",
        "pending": [
            {"side": "left", "statuses": ["processing", "pending"], "within": "30m"},
            {"side": "both", "statuses": ["processing"], "within": "1h"},
            {"side": "right", "within": "10m"},
        ],
    }
    spec = load_spec(write_spec(tmp_path, {"pairs": [{"left": "app", "right": "psp", "timing": timing}]}))

    (row,) = settings_rows(spec)

    # Any status: the settlement window on both sides, the right's own 10 minutes on the right.
    assert (row["left_pending_within"], row["right_pending_within"]) == (
        timedelta(minutes=5),
        timedelta(minutes=10),
    )
    # A status several rules list takes the longest window.
    assert row["left_pending_statuses"].obj == {"processing": 3600.0, "pending": 1800.0}
    assert row["right_pending_statuses"].obj == {"processing": 3600.0}


def test_without_pending_rules_nothing_is_held(tmp_path: Path) -> None:
    (row,) = settings_rows(load_spec(write_spec(tmp_path, {"pairs": [{"left": "app", "right": "psp"}]})))

    assert (row["left_pending_within"], row["right_pending_within"]) == (timedelta(0), timedelta(0))
    assert (row["left_pending_statuses"], row["right_pending_statuses"], row["class_severity"]) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"side": "left", "within": "0s"}, "reconcile.pairs.0.timing.pending.0.within"),
        ({"side": "middle", "within": "5m"}, "reconcile.pairs.0.timing.pending.0.side"),
        ({"side": "left", "statuses": [], "within": "5m"}, "reconcile.pairs.0.timing.pending.0.statuses"),
        ({"side": "left"}, "reconcile.pairs.0.timing.pending.0.within"),
    ],
)
def test_a_bad_pending_rule_is_located(tmp_path: Path, rule: dict, expected: str) -> None:
    pair = {"left": "app", "right": "psp", "timing": {"pending": [rule]}}

    message = load_error(write_spec(tmp_path, {"pairs": [pair]}))

    assert f"field '{expected}" in message


def test_severity_per_class_lays_the_pairs_over_the_specs(tmp_path: Path) -> None:
    reconcile = {
        "severity": {"critical_percent": 10, "classes": {"missing": "critical", "late": "warning"}},
        "pairs": [
            {"left": "app", "right": "psp",
             "severity": {"min_amount": "5",
                          "classes": {"missing": "warning", "missing_in_right": "critical"}}},
            {"left": "psp", "right": "bank", "severity": {"critical_percent": 2}},
        ],
        "balances": [{"left": "app", "right": "bank",
                      "severity": {"classes": {"balance_mismatch": "critical"}}}],
    }  # fmt: skip
    spec = load_spec(write_spec(tmp_path, reconcile, ("app", "psp", "bank")))

    own, inherited, balances = settings_rows(spec)

    assert own["class_severity"].obj == {
        "missing": "warning",
        "late": "warning",
        "missing_in_right": "critical",
    }
    assert (own["critical_percent"], own["critical_min_amount"]) == (Decimal(10), Decimal(5))
    assert inherited["class_severity"].obj == {"missing": "critical", "late": "warning"}
    assert (inherited["critical_percent"], inherited["critical_min_amount"]) == (Decimal(2), Decimal(0))
    assert balances["class_severity"].obj == {
        "missing": "critical",
        "late": "warning",
        "balance_mismatch": "critical",
    }


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ({"classes": {"matched": "critical"}}, "reconcile.pairs.0.severity.classes"),
        ({"classes": {"missing": "page"}}, "reconcile.pairs.0.severity.classes.missing"),
        ({"pages": True}, "reconcile.pairs.0.severity.pages"),
    ],
)
def test_a_bad_class_severity_is_located(tmp_path: Path, severity: dict, expected: str) -> None:
    pair = {"left": "app", "right": "psp", "severity": severity}

    message = load_error(write_spec(tmp_path, {"pairs": [pair]}))

    assert f"field '{expected}" in message

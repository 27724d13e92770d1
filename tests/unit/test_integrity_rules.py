"""The spec's ``rules`` section: what it means (defaults, names, exact numbers) and every mistake reported at
load time with the field's dotted path and line, before a run could trip over it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from recon.integrity.rules import DEFAULT_NAMES, Rules
from recon.spec import Spec, SpecError, load_spec

SPEC = """\
name: shop
description: Orders against payments, with integrity rules.
owner: tests
schedule: "@daily"
sources:
  - name: orders
    type: sftp_csv
    connection: unused
    path: /orders.csv
    fields: {record_key: id, amount: amount, currency: currency, occurred_at: at}
  - name: payments
    type: sftp_csv
    connection: unused
    path: /payments.csv
    fields: {record_key: id, amount: amount, currency: currency, occurred_at: at}
references:
  - name: events
    type: sftp_csv
    connection: unused
    path: /events.csv
    fields: {record_key: id, amount: amount, currency: currency, occurred_at: at}
rules:
"""


def spec_file(directory: Path, rules: str) -> Path:
    """The shop spec with ``rules`` (indented YAML under ``rules:``), written to ``directory/shop.yml``."""
    path = directory / "shop.yml"
    path.write_text(SPEC + rules, encoding="utf-8")
    return path


def line_of(path: Path, text: str) -> int:
    """The 1-based line of the only line of ``path`` that contains ``text``."""
    found = [
        n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1) if text in line
    ]
    assert len(found) == 1, f"{text!r} is on lines {found}"
    return found[0]


def load_error(path: Path) -> str:
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return str(raised.value)


def test_a_rules_section_loads_with_exact_numbers_and_derived_names(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "  disable: [occurred_at_in_window]\n"
        "  checks:\n"
        "    - {rule: positive, field: attributes.quantity, severity: high, threshold: 0.1}\n"
        "    - {rule: between, field: amount, min: 0.01, max: 100, severity: low}\n"
        "    - {rule: exists_in, field: group_key, reference: {source: events}, severity: high,"
        " sources: [orders]}\n"
        "    - {rule: totals, field: amount, sources: [events], lines: {source: orders, by: group_key},"
        " tolerance: 0.01, severity: medium}\n",
    )

    spec = load_spec(path)

    quantity, between, orphans, totals = spec.rules.checks
    assert [rule.rule_name for rule in spec.rules.checks] == [
        "quantity_positive",
        "amount_between",
        "group_key_exists_in",
        "amount_totals",
    ]
    # YAML reads 0.1 and 0.01 as floats; the rules keep the decimals that were written.
    assert quantity.threshold == Decimal("0.1")
    assert (between.min, between.max) == (Decimal("0.01"), Decimal("100"))
    assert totals.tolerance == Decimal("0.01")
    assert (orphans.reference.source, orphans.reference.field) == ("events", "record_key")
    assert (totals.key, totals.lines.field, totals.lines.by) == ("record_key", "amount", "group_key")
    effective = [rule.rule_name for rule in spec.rules.effective()]
    assert effective == [
        *(name for name in DEFAULT_NAMES if name != "occurred_at_in_window"),
        "quantity_positive",
        "amount_between",
        "group_key_exists_in",
        "amount_totals",
    ]


def test_a_rule_with_a_default_name_replaces_the_default() -> None:
    rules = Rules.model_validate(
        {"checks": [{"rule": "email", "name": "customer_email_format", "field": "customer_email",
                     "severity": "critical"}]}
    )  # fmt: skip

    effective = rules.effective()

    assert [rule.rule_name for rule in effective].count("customer_email_format") == 1
    (replaced,) = [rule for rule in effective if rule.rule_name == "customer_email_format"]
    assert replaced.severity == "critical"


def test_every_spec_gets_the_defaults() -> None:
    assert [rule.rule_name for rule in Rules().effective()] == list(DEFAULT_NAMES)
    assert DEFAULT_NAMES == (
        "record_key_not_null",
        "amount_not_negative",
        "currency_iso_4217",
        "customer_email_format",
        "occurred_at_not_future",
        "occurred_at_in_window",
        "no_duplicates",
        "records_accounted_once",
        "counts_add_up",
    )


def test_only_the_invariants_stop_by_default_and_severity_is_kept_apart() -> None:
    defaults = {rule.rule_name: (rule.severity, rule.on_fail) for rule in Rules().effective()}

    assert defaults == {
        "record_key_not_null": ("critical", "mark"),
        "amount_not_negative": ("critical", "mark"),
        "currency_iso_4217": ("critical", "mark"),
        "customer_email_format": ("medium", "mark"),
        "occurred_at_not_future": ("high", "mark"),
        "occurred_at_in_window": ("low", "mark"),
        "no_duplicates": ("low", "mark"),
        "records_accounted_once": ("critical", "stop"),
        "counts_add_up": ("critical", "stop"),
    }


def test_a_spec_sets_what_a_failure_does_per_rule(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "  checks:\n"
        "    - {rule: not_negative, name: amount_not_negative, field: amount, severity: low, on_fail: stop}\n"
        "    - {rule: in_set, field: status, values: [paid], severity: critical, on_fail: quarantine}\n"
        "    - {rule: no_duplicates, severity: high}\n"
        "    - {rule: accounted_once, name: records_accounted_once, severity: high}\n",
    )

    checks = load_spec(path).rules.checks

    assert [(rule.severity, rule.on_fail) for rule in checks] == [
        ("low", "stop"),
        ("critical", "quarantine"),
        ("high", "mark"),
        ("high", "stop"),  # an invariant always stops; only its loudness can change
    ]


CSV = {
    "path": "/x.csv",
    "fields": {"record_key": "id", "amount": "amount", "currency": "c", "occurred_at": "at"},
}


@pytest.mark.parametrize(
    ("source", "signed", "windowed"),
    [
        ({"type": "sftp_csv", **CSV}, False, True),
        ({"type": "sftp_csv", **CSV, "signed_amounts": True}, True, True),
        # Debits load negative: signed by the mapping itself.
        (
            {"type": "sftp_csv", **CSV, "debit_credit": {"indicator": "dc", "debit": ["D"], "credit": ["C"]}},
            True,
            True,
        ),
        ({"type": "stripe_charges"}, False, True),
        ({"type": "stripe_refunds"}, False, True),  # a refund's amount is what was refunded, positive
        ({"type": "stripe_payouts", "window_by": "arrival_date"}, True, True),
        ({"type": "stripe_balance_transactions"}, True, True),
        ({"type": "stripe_balance_transactions", "select": "payouts"}, True, False),
        ({"type": "stripe_balance_transactions", "signed_amounts": False}, False, True),
    ],
    ids=[
        "csv",
        "csv_signed",
        "csv_debit_credit",
        "charges",
        "refunds",
        "payouts",
        "balance",
        "by_payout",
        "balance_unsigned",
    ],
)
def test_a_source_knows_its_sign_convention_and_whether_its_window_is_by_occurred_at(
    source: dict, signed: bool, windowed: bool
) -> None:
    spec = Spec.model_validate(
        {"name": "shop", "description": "d", "owner": "o", "schedule": "@daily",
         "sources": [{"name": "orders", "connection": "unused", "type": "sftp_csv", **CSV},
                     {"name": "payments", "connection": "unused", **source}]}
    )  # fmt: skip

    payments = spec.source("payments")

    assert (payments.has_signed_amounts, payments.windowed_by_occurred_at) == (signed, windowed)


def test_an_unknown_rule_kind_names_the_rule_and_lists_the_kinds(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "  checks:\n    - {rule: not_blank, field: amount, severity: high}\n")

    message = load_error(path)

    assert f"field 'rules.checks.0' (line {line_of(path, 'not_blank')}): Input tag 'not_blank'" in message
    assert "'not_null', 'not_negative', 'positive', 'between'" in message


def test_disabling_an_unknown_default_names_it_and_lists_the_defaults(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "  disable: [customer_email_format, no_duplicate]\n")

    message = load_error(path)

    line = line_of(path, "disable")
    assert (
        f"field 'rules.disable' (line {line}): Value error, no default rule ['no_duplicate'];"
        " the defaults are ['record_key_not_null'," in message
    )


def test_two_rules_with_one_name_are_refused(tmp_path: Path) -> None:
    # Both derive the name amount_positive.
    path = spec_file(
        tmp_path,
        "  checks:\n"
        "    - {rule: positive, field: amount, severity: high}\n"
        "    - {rule: positive, field: amount, severity: low, sources: [orders]}\n",
    )

    message = load_error(path)

    assert (
        f"field 'rules.checks' (line {line_of(path, 'checks:')}): Value error, rule names must be unique,"
        " ['amount_positive'] repeat" in message
    )


def test_record_key_cannot_name_a_rule(tmp_path: Path) -> None:
    # It is the column a batch identifies its rows by: a rule's column of that name would shadow it.
    path = spec_file(
        tmp_path, "  checks:\n    - {rule: positive, field: amount, name: record_key, severity: high}\n"
    )

    message = load_error(path)

    assert (
        f"field 'rules.checks' (line {line_of(path, 'checks:')}): Value error, 'record_key' cannot name"
        in message
    )


def test_a_rule_on_an_unknown_source_names_the_field(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "  checks:\n"
        "    - rule: positive\n"
        "      field: amount\n"
        "      severity: high\n"
        "      sources: [orders, refunds]\n",
    )

    message = load_error(path)

    assert (
        f"field 'rules.checks.0.sources' (line {line_of(path, 'refunds')}): no source or reference 'refunds';"
        " the spec has ['events', 'orders', 'payments']" in message
    )


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ("{rule: exists_in, field: group_key, severity: high, reference: {source: tickets}}", "reference"),
        ("{rule: totals, field: amount, severity: high, lines: {source: tickets, by: group_key}}", "lines"),
    ],
)
def test_a_rule_looking_in_an_unknown_source_names_the_field(tmp_path: Path, rule: str, field: str) -> None:
    path = spec_file(tmp_path, f"  checks:\n    - {rule}\n")

    message = load_error(path)

    line = line_of(path, "tickets")
    assert f"field 'rules.checks.0.{field}.source' (line {line}): no source or reference 'tickets'" in message


def test_no_duplicates_on_a_reference_source_is_refused(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "  checks:\n"
        "    - rule: no_duplicates\n"
        "      name: events_repeated\n"
        "      severity: low\n"
        "      sources: [events]\n",
    )

    message = load_error(path)

    assert (
        f"field 'rules.checks.0.sources' (line {line_of(path, 'sources: [events]')}): no_duplicates reads the"
        " matching, so only reconciled sources" in message
    )


# The rule's kind is how the rule is told apart, not a field of the spec: paths leave it out, as they do a
# source's type, and the line is that of the field itself.
@pytest.mark.parametrize(
    ("rule", "path", "line_text", "problem"),
    [
        (
            "    - rule: between\n      field: amount\n      severity: high\n",
            "rules.checks.0",
            "rule: between",
            "Value error, between needs min, max or both",
        ),
        (
            "    - rule: between\n      field: amount\n      severity: high\n      min: 10\n      max: 1\n",
            "rules.checks.0",
            "rule: between",
            "Value error, min 10 is above max 1",
        ),
        (
            "    - rule: matches\n      field: reference\n      severity: high\n      pattern: '^ch_(\\d+'\n",
            "rules.checks.0.pattern",
            "pattern:",
            "Value error, not a regular expression: missing ), unterminated subpattern",
        ),
        (
            "    - rule: accounted_once\n      severity: critical\n      threshold: 0.01\n",
            "rules.checks.0",
            "rule: accounted_once",
            "Value error, accounted_once is an invariant of the results: it takes no threshold or sources",
        ),
        (
            "    - rule: positive\n      field: quantity\n      severity: high\n",
            "rules.checks.0.field",
            "field: quantity",
            "String should match pattern",
        ),
        (
            "    - rule: positive\n      field: amount\n      severity: warning\n",
            "rules.checks.0.severity",
            "severity: warning",
            "Input should be 'critical', 'high', 'medium' or 'low'",
        ),
        (
            "    - rule: positive\n      field: amount\n      severity: high\n      threshold: 1\n",
            "rules.checks.0.threshold",
            "threshold: 1",
            "Input should be less than 1",
        ),
        (
            "    - rule: positive\n      field: amount\n      severity: high\n      on_fail: skip\n",
            "rules.checks.0.on_fail",
            "on_fail: skip",
            "Input should be 'stop', 'mark' or 'quarantine'",
        ),
        (
            "    - rule: counts_add_up\n      severity: low\n      on_fail: mark\n",
            "rules.checks.0",
            "rule: counts_add_up",
            "Value error, counts_add_up is an invariant of the results: on_fail can only be stop",
        ),
        (
            "    - rule: no_duplicates\n      severity: high\n      on_fail: quarantine\n",
            "rules.checks.0",
            "rule: no_duplicates",
            "Value error, no_duplicates reads the matching's results: on_fail can only be mark",
        ),
    ],
    ids=["between_without_bounds", "between_reversed", "bad_regex", "invariant_threshold", "unknown_field",
         "unknown_severity", "threshold_of_one", "unknown_on_fail", "invariant_marks",
         "duplicates_quarantine"],
)  # fmt: skip
def test_a_wrong_rule_names_its_field_and_line(
    tmp_path: Path, rule: str, path: str, line_text: str, problem: str
) -> None:
    spec = spec_file(tmp_path, "  checks:\n" + rule)

    message = load_error(spec)

    assert f"field '{path}' (line {line_of(spec, line_text)}): {problem}" in message


@pytest.mark.parametrize(
    "rule",
    [
        "{rule: positive, field: occurred_at, severity: high}",
        "{rule: between, field: occurred_at, max: 1, severity: high}",
        "{rule: not_future, field: amount, severity: high}",
        "{rule: in_window, field: amount, severity: high}",
    ],
    ids=["positive_time", "between_time", "not_future_amount", "in_window_amount"],
)
def test_a_rule_on_a_field_it_cannot_read_is_refused_when_the_spec_loads(tmp_path: Path, rule: str) -> None:
    # amount is only ever a number, occurred_at only a time: say so at load time, with the rule's line,
    # not when a run builds its suites.
    path = spec_file(tmp_path, f"  checks:\n    - {rule}\n")

    message = load_error(path)

    assert "field 'rules.checks.0" in message
    assert f"(line {line_of(path, rule)})" in message

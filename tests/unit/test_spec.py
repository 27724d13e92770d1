"""Spec files: the example loads, and every mistake is reported with the file, field and line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from recon.sources.postgres import PostgresSource
from recon.sources.sftp_csv import SftpCsvSource
from recon.sources.stripe_charges import StripeChargesSource
from recon.spec import SpecError, load_spec

# A frozen copy of the billing spec, so line numbers in the expected messages do not move when the
# shipped example changes.
EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "stripe_billing.yml"


def write_variant(directory: Path, old: str, new: str, name: str = "stripe_billing.yml") -> Path:
    """The example spec with one edit, written to ``directory/name``."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"the example spec no longer contains {old!r} exactly once"
    path = directory / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return str(raised.value)


def test_the_example_spec_loads() -> None:
    spec = load_spec(EXAMPLE)

    assert spec.name == "stripe_billing"
    assert spec.dag_id == "recon_stripe_billing"
    stripe, internal = spec.sources
    assert isinstance(stripe, StripeChargesSource)
    assert (stripe.name, stripe.connection, stripe.page_size) == ("stripe", "stripe_default", 100)
    assert isinstance(internal, SftpCsvSource)
    assert internal.path == "/exports/payments/payments_{window_start:%Y-%m-%d}.csv"
    assert internal.fields.record_key == "stripe_charge_id"
    (pair,) = spec.pairs
    assert (pair.left, pair.right, pair.pair_name) == ("stripe", "internal", "stripe_vs_internal")
    assert pair.compare.amount.tolerance == Decimal("0.01")
    assert spec.alerts.slack is not None and spec.alerts.slack.notify_on_success is False
    assert spec.alerts.slack.on_failure is True
    assert spec.alerts.pagerduty is not None and spec.alerts.pagerduty.severity == "critical"
    assert spec.alerts.max_breaks_listed == 5


def test_a_missing_required_field_names_its_dotted_path_and_the_line_of_its_item(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "    connection: payments_sftp\n", "")

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    # The field has no line of its own, so the error points at the source item (line 19).
    assert "field 'sources.1.connection' (line 19): Field required" in message


def test_a_wrong_type_names_the_field_and_its_line(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "retries: 2\n", "retries: many\n")

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    assert "field 'retries' (line 10): Input should be a valid integer" in message


def test_an_unknown_key_is_rejected_as_a_typo_with_its_line(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "    page_size: 100\n", "    page_sise: 100\n")

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    assert "field 'sources.0.page_sise' (line 18): Extra inputs are not permitted" in message


def test_an_unknown_source_type_names_the_source_and_the_known_types(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "type: sftp_csv\n", "type: ftp_csv\n")

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    assert "field 'sources.1' (line 19):" in message
    assert "'ftp_csv'" in message
    assert "'sftp_csv'" in message and "'stripe_charges'" in message


def test_an_unknown_path_placeholder_is_rejected(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "payments_{window_start:%Y-%m-%d}.csv", "payments_{day:%Y-%m-%d}.csv")

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    assert "field 'sources.1.path' (line 22): Value error, unknown placeholder {day}" in message


def test_a_negative_tolerance_is_rejected(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'tolerance: "0.01"', 'tolerance: "-0.01"')

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    assert (
        "field 'reconcile.pairs.0.compare.amount.tolerance' (line 39):"
        " Input should be greater than or equal to 0" in message
    )


def test_duplicate_source_names_are_rejected_at_the_sources_line(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "  - name: internal\n", "  - name: stripe\n")

    message = load_error(path)

    assert message.startswith(f"{path}: invalid spec:")
    assert (
        "field 'sources' (line 14): Value error, source names must be unique, got ['stripe', 'stripe']"
        in (message)
    )


def test_a_name_that_differs_from_the_file_stem_is_rejected(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "name: stripe_billing\n", "name: stripe_billing\n", name="billing.yml")

    message = load_error(path)

    assert message == (
        f"{path}: field 'name' (line 3) is 'stripe_billing' but must equal the file name 'billing'"
    )


def test_invalid_yaml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write_variant(tmp_path, "tags: [billing, stripe]\n", "tags: [billing, stripe\n")

    message = load_error(path)

    assert message.startswith(f"{path}: not valid YAML:")
    assert "line 9" in message


def test_a_document_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "stripe_billing.yml"
    path.write_text("- just\n- a list\n", encoding="utf-8")

    assert load_error(path) == f"{path}: a spec must be a YAML mapping, got list"


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path, "retries: 2\nretry_delay_seconds: 60\n", "retries: -1\nretry_delay_seconds: x\n"
    )

    message = load_error(path)

    assert "field 'retries' (line 10):" in message
    assert "field 'retry_delay_seconds' (line 11):" in message


def test_a_float_tolerance_stays_exact(tmp_path: Path) -> None:
    path = write_variant(tmp_path, 'tolerance: "0.01"', "tolerance: 0.1")

    spec = load_spec(path)

    tolerance = spec.pairs[0].compare.amount.tolerance
    assert tolerance == Decimal("0.1")
    assert str(tolerance) == "0.1"


def test_the_removed_amount_threshold_for_paging_says_what_replaced_it(tmp_path: Path) -> None:
    path = write_variant(
        tmp_path, "    severity: critical\n", '    severity: critical\n    min_discrepancy_amount: "0"\n'
    )

    message = load_error(path)

    assert "field 'alerts.pagerduty' (line" in message
    assert "min_discrepancy_amount: removed" in message and "reconcile.severity.critical_percent" in message


# A spec over an app database: a windowed source, a snapshot-able one, and a catalogue reference.
APP_SPEC = """\
name: app_catalogue
description: App payments vs the ledger, with the product catalogue.
owner: data-team
schedule: "@daily"
sources:
  - name: payments
    type: postgres
    connection: app_db
    query: select id, amount, currency, at from payments where at >= %(window_start)s and at < %(window_end)s
    fields: {record_key: id, occurred_at: at, amount: amount, currency: currency}
  - name: ledger
    type: postgres
    connection: app_db
    query: select id, amount, currency, at from ledger where at >= %(window_start)s and at < %(window_end)s
    fields: {record_key: id, amount: amount, currency: currency, occurred_at: at}
references:
  - name: products
    type: postgres
    connection: app_db
    query: select sku, title from products
    fields: {record_key: sku}
    attributes: {title: title}
"""
LEDGER_QUERY = (
    "    query: select id, amount, currency, at from ledger"
    " where at >= %(window_start)s and at < %(window_end)s\n"
)
LEDGER_FIELDS = "    fields: {record_key: id, amount: amount, currency: currency, occurred_at: at}\n"


def app_spec(directory: Path, old: str = "", new: str = "") -> Path:
    assert APP_SPEC.count(old) == 1 or not old
    path = directory / "app_catalogue.yml"
    path.write_text(APP_SPEC.replace(old, new) if old else APP_SPEC, encoding="utf-8")
    return path


def test_a_reference_without_placeholders_money_or_time_is_read_whole(tmp_path: Path) -> None:
    spec = load_spec(app_spec(tmp_path))

    (products,) = spec.references
    assert isinstance(products, PostgresSource)
    assert (products.snapshot, products.reads_whole, products.windowed_by_occurred_at) == (False, True, False)
    assert (products.fields.amount, products.fields.currency, products.fields.occurred_at) == (
        None,
        None,
        None,
    )
    payments = spec.source("payments")
    assert isinstance(payments, PostgresSource)
    assert (payments.reads_whole, payments.windowed_by_occurred_at) == (False, True)


def test_a_snapshot_source_is_read_whole_without_occurred_at(tmp_path: Path) -> None:
    path = app_spec(
        tmp_path,
        LEDGER_QUERY + LEDGER_FIELDS,
        "    snapshot: true\n    query: select id, amount, currency from ledger\n"
        "    fields: {record_key: id, amount: amount, currency: currency}\n",
    )

    ledger = load_spec(path).source("ledger")

    assert isinstance(ledger, PostgresSource)
    assert (ledger.snapshot, ledger.reads_whole, ledger.windowed_by_occurred_at) == (True, True, False)


def test_a_reconciled_query_without_the_window_must_say_snapshot(tmp_path: Path) -> None:
    path = app_spec(tmp_path, LEDGER_QUERY, "    query: select id, amount, currency, at from ledger\n")

    message = load_error(path)

    assert (
        "field 'sources.1.query' (line 14): a reconciled source must filter on the run window with"
        " %(window_start)s and %(window_end)s (>= start, < end); to read a table whole every run, set"
        " snapshot: true" in message
    )


def test_a_snapshot_query_must_not_use_the_window(tmp_path: Path) -> None:
    path = app_spec(tmp_path, LEDGER_QUERY, "    snapshot: true\n" + LEDGER_QUERY)

    message = load_error(path)

    assert (
        "field 'sources.1.query' (line 15): a snapshot is read whole every run, so its query must not"
        in message
    )
    assert "it uses window_end, window_start (drop snapshot: true to read by window)" in message


def test_a_windowed_source_without_occurred_at_names_the_field_and_snapshot(tmp_path: Path) -> None:
    path = app_spec(
        tmp_path, LEDGER_FIELDS, "    fields: {record_key: id, amount: amount, currency: currency}\n"
    )

    message = load_error(path)

    assert (
        "field 'sources.1.fields.occurred_at' (line 15): required for a source read by run window" in message
    )
    assert "(snapshot: true on a postgres source) needs none" in message


def test_a_reconciled_source_must_map_an_amount_even_as_a_snapshot(tmp_path: Path) -> None:
    path = app_spec(
        tmp_path,
        LEDGER_QUERY + LEDGER_FIELDS,
        "    snapshot: true\n    query: select id from ledger\n    fields: {record_key: id}\n",
    )

    message = load_error(path)

    assert (
        "field 'sources.1.fields.amount' (line 16): required for a reconciled source (matching compares"
        " amounts and currencies); only references may map no amount" in message
    )

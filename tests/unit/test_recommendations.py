"""Recommendations: one actionable sentence per finding, largest first, named after the sources, with
checks that fit each source's kind and the class, and the spec's own hints after them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from recon.recommendations import (
    BalanceWords,
    Finding,
    PairWords,
    Words,
    build_findings,
    recommend,
    recommendations,
    source_kind,
    spec_words,
)
from recon.spec import SpecError, load_spec

SPECS = Path(__file__).resolve().parents[2] / "include" / "specs"
CLASSES = ["missing", "amount_mismatch", "currency_mismatch", "status_mismatch", "attribute_mismatch", "late",
           "duplicate", "near_duplicate", "group_mismatch", "stuck"]  # fmt: skip


def finding(break_class: str, count: int, missing_in: str | None = None, **extra) -> Finding:
    """A finding of stripe_billing's pair: Stripe charges against the app's nightly export file."""
    kinds = {"left_kind": "stripe_charges", "right_kind": "file"}
    return Finding(
        "stripe_vs_internal", "stripe", "internal", break_class, count, missing_in, **{**kinds, **extra}
    )


def tickets(break_class: str, count: int, missing_in: str | None = None, **extra) -> Finding:
    """A finding of a ticketing pair: the platform's REST API against the box office's app database."""
    kinds = {"left_kind": "api", "right_kind": "database"}
    return Finding("platform_vs_box_office", "platform", "box_office", break_class, count, missing_in,
                   **{**kinds, **extra})  # fmt: skip


def bank(break_class: str, count: int, missing_in: str | None = None, **extra) -> Finding:
    """A finding of a payouts pair: Stripe payouts against the bank's statement files."""
    kinds = {"left_kind": "stripe_payouts", "right_kind": "file"}
    return Finding("payouts_vs_bank", "payouts", "bank", break_class, count, missing_in, **{**kinds, **extra})


# --- missing: what to check depends on the kind of the side the records are missing in ---


def test_missing_in_a_file_drop_checks_the_file_arrived_complete_and_the_booking_date() -> None:
    assert recommend(bank("missing", 4, missing_in="bank")) == (
        "4 records are in payouts but not in bank: check that bank's file for the window arrived complete"
        " (every line, none quarantined) and the date each line is booked on (a line booked a day later is"
        " in the next file)."
    )


def test_missing_in_an_app_database_checks_its_writes_and_sync() -> None:
    assert recommend(tickets("missing", 12, missing_in="box_office")) == (
        "12 records are in platform but not in box_office: check that the application wrote them to"
        " box_office (failed writes, a stopped sync or replication job), and write the missing rows."
    )
    assert recommend(tickets("missing", 1, missing_in="box_office")) == (
        "1 record is in platform but not in box_office: check that the application wrote it to"
        " box_office (failed writes, a stopped sync or replication job), and write the missing row."
    )


def test_missing_in_an_api_checks_what_it_returns_for_the_window() -> None:
    assert recommend(tickets("missing", 3, missing_in="platform")) == (
        "3 records are in box_office but not in platform: check that platform's API returns them for the"
        " window (its date filter, paging and time zone) and that they were recorded there at all."
    )
    assert recommend(tickets("missing", 1, missing_in="platform")).endswith(
        "returns it for the window (its date filter, paging and time zone) and that it was recorded there"
        " at all."
    )


def test_missing_in_stripe_checks_the_account_and_whether_the_payment_went_through_stripe() -> None:
    assert recommend(finding("missing", 2, missing_in="stripe")) == (
        "2 records are in internal but not in stripe: check whether Stripe (stripe) has them under another"
        " account or in test mode, or internal recorded a payment that never went through Stripe."
    )


def test_a_bank_credit_without_a_payout_asks_whether_it_is_a_payout_at_all() -> None:
    assert recommend(bank("missing", 1, missing_in="payouts")) == (
        "1 record is in bank but not in payouts: check whether it is a Stripe payout at all (another"
        " payer's credit, another Stripe account's payout) or was paid out before the window."
    )


def test_a_charge_missing_in_the_app_side_also_points_at_stripes_webhooks() -> None:
    assert recommend(finding("missing", 12, missing_in="internal")) == (
        "12 records are in stripe but not in internal: check that internal's file for the window arrived"
        " complete (every line, none quarantined) and the date each line is booked on (a line booked a day"
        " later is in the next file); if internal is written from Stripe's webhooks, check their delivery"
        " (Stripe's webhook log)."
    )


def test_missing_between_sources_of_unknown_kind_is_told_generically() -> None:
    plain = Finding("a_vs_b", "a", "b", "missing", 5, "b")

    assert recommend(plain) == (
        "5 records are in a but not in b: check that b receives them (exports, sync jobs), or sync them."
    )


# --- the other classes, per kind ---


def test_an_amount_mismatch_names_the_checks_of_each_sides_kind() -> None:
    assert recommend(finding("amount_mismatch", 3)) == (
        "3 records differ in amount between stripe and internal beyond the tolerance: check fees, partial"
        " captures and refunds in stripe; charges deducted and the amount format of internal's file"
        " (separators, major or minor units)."
    )
    assert recommend(tickets("amount_mismatch", 1)) == (
        "1 record differs in amount between platform and box_office beyond the tolerance: check discounts,"
        " fees and partial refunds in platform; rounding, discounts and later edits of the rows in"
        " box_office."
    )
    assert recommend(bank("amount_mismatch", 2)) == (
        "2 records differ in amount between payouts and bank beyond the tolerance: check fees, refunds and"
        " adjustments netted into the payouts in payouts; charges deducted and the amount format of bank's"
        " file (separators, major or minor units)."
    )


def test_two_sides_of_one_kind_share_one_phrase() -> None:
    both = Finding("a_vs_b", "a", "b", "amount_mismatch", 2, left_kind="database", right_kind="database")
    neither = Finding("a_vs_b", "a", "b", "amount_mismatch", 2)

    assert recommend(both) == (
        "2 records differ in amount between a and b beyond the tolerance: check rounding, discounts and"
        " later edits of the rows in a and b."
    )
    assert recommend(neither) == (
        "2 records differ in amount between a and b beyond the tolerance: check fees, discounts, refunds"
        " and rounding."
    )


def test_a_currency_mismatch_names_where_each_side_takes_its_currency_from() -> None:
    assert recommend(finding("currency_mismatch", 2)) == (
        "2 records carry a different currency in stripe and internal: check presentment against settlement"
        " currency in stripe; the currency internal's file states (or the currency the spec sets for it)."
    )
    assert recommend(tickets("currency_mismatch", 1)) == (
        "1 record carries a different currency in platform and box_office: check the currency field"
        " platform returns; the currency column box_office writes."
    )


def test_late_records_name_the_clock_each_side_keeps() -> None:
    assert recommend(bank("late", 2)) == (
        "2 records were recorded in payouts and bank further apart than allowed: check the payouts' arrival"
        " date against their creation in payouts; the booking date in bank's file (booking against value"
        " date, weekends, its time zone)."
    )
    assert recommend(finding("late", 1)) == (
        "1 record was recorded in stripe and internal further apart than allowed: check webhook delays from"
        " stripe (Stripe's webhook log); the booking date in internal's file (booking against value date,"
        " weekends, its time zone)."
    )
    assert recommend(Finding("a_vs_b", "a", "b", "late", 2)) == (
        "2 records were recorded in a and b further apart than allowed: check delayed processing or clock"
        " problems."
    )


@pytest.mark.parametrize(
    ("make", "side", "action"),
    [
        (tickets, "box_office", "remove the repeated rows or fix the double write in the application"),
        (tickets, "platform", "check whether platform returns the same record twice (paging) or recorded it"
                              " twice"),
        (finding, "internal", "check whether internal's file was delivered twice or overlaps the one before,"
                              " and remove the repeated lines"),
        (finding, "stripe", "check for a request sent twice (a retry without an idempotency key) and reverse"
                            " the extra one"),
    ],
)  # fmt: skip
def test_duplicates_name_the_side_that_repeated_and_what_to_check_there(make, side, action) -> None:
    assert recommend(make("duplicate", 3, side=side)) == (
        f"3 records are repeated in {side} (a key already seen there): {action}."
    )


def test_a_duplicate_of_unknown_side_is_told_as_before() -> None:
    assert recommend(Finding("a_vs_b", "a", "b", "duplicate", 1)) == (
        "1 record repeats a key already seen on the same side: remove the repeats or fix the double write."
    )


def test_near_duplicates_name_their_side_and_the_spec_settings_that_made_them_alike() -> None:
    near = PairWords(near_fields=("customer_email",), near_within=timedelta(minutes=5))
    loose = PairWords(near_fields=("customer_email", "attributes.card"), near_within=timedelta(seconds=90),
                      near_amount_tolerance=Decimal("0.50"))  # fmt: skip

    assert recommend(finding("near_duplicate", 2, side="internal", near=near)) == (
        "2 records in internal look like repeats (same customer_email and amount, at most 5m apart): check"
        " for double submissions and refund the extra payment if it was charged."
    )
    assert recommend(tickets("near_duplicate", 1, side="box_office", near=loose)) == (
        "1 record in box_office looks like a repeat (same customer_email, attributes.card and amount within"
        " 0.50, at most 1m 30s apart): check for double submissions and cancel or remove the extra one."
    )


def test_an_attribute_mismatch_names_each_field_with_its_count() -> None:
    fields = (("quantity", 31), ("till", 2))

    assert recommend(tickets("attribute_mismatch", 32, fields=fields)) == (
        "32 records differ between platform and box_office: quantity differs on 31 records, till on 2;"
        " correct the side that is wrong."
    )
    assert recommend(tickets("attribute_mismatch", 1, fields=(("channel", 1),))) == (
        "1 record differs between platform and box_office: channel differs on 1 record; correct the side"
        " that is wrong."
    )


def test_a_status_mismatch_names_the_statuses_that_disagree() -> None:
    pairs = (("refunded", "settled", 10), ("settled", "open", 2), ("open", "refunded", 1), ("a", "b", 1),
             ("c", "d", 1))  # fmt: skip

    assert recommend(tickets("status_mismatch", 15, status_pairs=pairs)) == (
        "15 records have a different status in platform and box_office (platform vs box_office: refunded"
        " vs settled on 10, settled vs open on 2, open vs refunded on 1, other statuses on 2): update the"
        " side that missed the change."
    )


def test_a_group_mismatch_speaks_of_payouts_only_where_there_are_payouts() -> None:
    settled = Finding("payouts_vs_settlement", "payouts", "settled", "group_mismatch", 1,
                      left_kind="stripe_payouts", right_kind="stripe_balance_transactions")  # fmt: skip

    assert recommend(settled) == (
        "1 group total (a payout against the transactions it settles) differs between payouts and settled:"
        " check fees, refunds and adjustments in the group."
    )
    assert recommend(tickets("group_mismatch", 2)) == (
        "2 group totals differ between platform and box_office: check missing, extra and refunded records"
        " in the group."
    )


# --- balance pairs: an entity's balance against the sum of its entries, toward the truth if named ---

WALLETS = BalanceWords("user_id", "balance", "entries", truth="ledger", correctable=True)


def wallets(break_class: str, count: int, balance: BalanceWords | None = WALLETS, **extra) -> Finding:
    """A finding of a balance pair: the app's balance table against its ledger, both app databases."""
    return Finding("wallets", "balances", "ledger", break_class, count, left_kind="database",
                   right_kind="database", balance=balance, **extra)  # fmt: skip


def test_a_balance_against_its_entries_is_set_to_the_truths_sum() -> None:
    assert recommend(wallets("balance_mismatch", 3)) == (
        "3 balances in balances differ from the sum of their entries in ledger (per user_id) beyond the"
        " tolerance: ledger is the source of truth (the spec's corrections), so set the balances in balances"
        " to their sums in ledger (recon corrections plan, then apply)."
    )
    # The corrections name the truth but may not fix balances: the fix is said, not the command.
    assert recommend(
        wallets("balance_mismatch", 1, BalanceWords("user_id", "balance", "entries", "ledger"))
    ) == (
        "1 balance in balances differs from the sum of its entries in ledger (per user_id) beyond the"
        " tolerance: ledger is the source of truth (the spec's corrections), so set the balance in balances"
        " to its sum in ledger."
    )


def test_a_balance_pair_without_a_truth_asks_which_side_is_wrong_and_never_replays_a_ledger() -> None:
    entries_left = BalanceWords("account", "entries", "balance")
    expected = (
        "2 balances in ledger differ from the sum of their entries in balances (per account) beyond the"
        " tolerance: find the side that is wrong (an entry missing, posted twice or after the balance was"
        " read, a balance updated without its entry) and correct it."
    )

    assert recommend(wallets("balance_mismatch", 2, entries_left)) == expected
    assert recommend(wallets("balance_mismatch", 1, None)) == (
        "1 balance differs between balances and ledger beyond the tolerance: find the side that is wrong"
        " (an entry missing, posted twice or after the balance was read, a balance updated without its"
        " entry) and correct it."
    )
    assert "replay" not in expected and "wallet" not in expected


def test_two_balances_or_two_sums_are_told_as_such_and_entries_are_corrected_in_their_ledger() -> None:
    chain = BalanceWords("address", "balance", "balance", truth="balances")
    sums = BalanceWords("entity", "entries", "entries", truth="balances")

    assert recommend(wallets("balance_mismatch", 4, chain)) == (
        "4 balances differ between balances and ledger (per address) beyond the tolerance: balances is the"
        " source of truth (the spec's corrections), so set the balances in ledger to those in balances."
    )
    assert recommend(wallets("balance_mismatch", 1, sums)) == (
        "1 sum of entries differs between balances and ledger beyond the tolerance: balances is the source"
        " of truth (the spec's corrections), so correct the entries in ledger (an entry missing, posted"
        " twice or wrong)."
    )


def test_a_balance_pair_counts_entities_missing_on_a_side() -> None:
    assert recommend(wallets("missing", 2, missing_in="balances")) == (
        "2 entities (user_id) are in ledger but not in balances: check that the application wrote them to"
        " balances (failed writes, a stopped sync or replication job), and write the missing rows."
    )


def test_a_balance_pairs_words_come_from_its_spec(tmp_path: Path) -> None:
    wallet = load_spec(SPECS / "wallet_balances.yml")
    document = yaml.safe_load((SPECS / "wallet_balances.yml").read_text(encoding="utf-8"))
    document["corrections"]["classes"] = ["missing"]
    document["reconcile"]["balances"][0]["entity"] = ["attributes.address"]
    path = tmp_path / "wallet_balances.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    no_fix = spec_words(load_spec(path)).pairs["wallet_balances_vs_chain"].balance
    del document["corrections"]
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    no_truth = spec_words(load_spec(path)).pairs["wallet_balances_vs_chain"].balance

    # The entity as the left side's source maps it (record_key: user_id); two stored balances; the
    # chain is the truth.
    assert spec_words(wallet).pairs["wallet_balances_vs_chain"].balance == BalanceWords(
        "user_id", "balance", "balance", truth="chain", correctable=True
    )
    assert no_fix == BalanceWords("address", "entries", "entries", truth="chain", correctable=False)
    assert no_truth == BalanceWords("address", "entries", "entries")
    assert spec_words(wallet).pairs["wallet_balances_vs_chain"].status_left == {}


def test_stuck_records_name_their_statuses_and_where_to_retry_them() -> None:
    assert recommend(finding("stuck", 3, statuses=("processing",), side="stripe")) == (
        "3 records are stuck in processing for longer than allowed: retry or cancel them with Stripe."
    )
    assert recommend(tickets("stuck", 1, statuses=("reserved",), side="box_office")) == (
        "1 record is stuck in reserved for longer than allowed: retry or cancel it in box_office."
    )


def test_a_bank_is_never_told_of_webhooks_and_a_ticketing_pair_never_of_captures() -> None:
    for cls in CLASSES:
        for count in (1, 4):
            for sentence in (recommend(bank(cls, count, "bank", side="bank")),
                             recommend(bank(cls, count, "payouts", side="payouts"))):  # fmt: skip
                assert "webhook" not in sentence.lower(), sentence
            for missing_in in ("platform", "box_office"):
                sentence = recommend(tickets(cls, count, missing_in, side=missing_in))
                assert "capture" not in sentence and "Stripe" not in sentence, sentence
                assert "payout" not in sentence and "refund the extra payment" not in sentence, sentence


# --- hints ---


def test_a_hint_follows_the_sentence_of_its_class() -> None:
    hinted = tickets("amount_mismatch", 2, hint="Ask the box office to rerun the till export.")

    assert recommend(hinted) == recommend(tickets("amount_mismatch", 2)) + (
        " Ask the box office to rerun the till export."
    )


def test_hints_reach_findings_by_class_and_a_side_hint_wins_over_missing() -> None:
    words = Words(
        {"platform": "api", "box_office": "database"},
        {"platform_vs_box_office": PairWords(hints={
            "missing": "Open a ticket with the platform.",
            "missing_in_right": "Ask the box office to rerun the till export.",
            "late": "Tills sync at closing.",
        })},
    )  # fmt: skip
    rows = [pair_row("missing", 4, missing_in="box_office", side="platform"),
            pair_row("missing", 2, missing_in="platform", side="box_office"),
            pair_row("late", 1), pair_row("amount_mismatch", 1)]  # fmt: skip

    hints = [(f.break_class, f.missing_in, f.hint) for f in build_findings(rows, words=words)]

    assert hints == [
        ("missing", "box_office", "Ask the box office to rerun the till export."),
        ("missing", "platform", "Open a ticket with the platform."),
        ("late", None, "Tills sync at closing."),
        ("amount_mismatch", None, None),
    ]


# --- findings from the counted rows publish_run reads ---


def pair_row(break_class: str, count: int, **values) -> dict:
    return {"pair": "platform_vs_box_office", "left_source": "platform", "right_source": "box_office",
            "break_class": break_class, "count": count, "missing_in": None, "side": None, "statuses": None,
            **values}  # fmt: skip


def test_findings_carry_kinds_fields_and_statuses_in_the_pairs_shared_words() -> None:
    words = Words(
        {"platform": "api", "box_office": "database"},
        {
            "platform_vs_box_office": PairWords(
                status_left={"paid": "settled"}, status_right={"sold": "settled"}
            )
        },
    )
    rows = [pair_row("attribute_mismatch", 31), pair_row("status_mismatch", 5),
            pair_row("duplicate", 3, missing_in="platform", side="box_office")]  # fmt: skip
    fields = [{"pair": "platform_vs_box_office", "field": "till", "count": 2},
              {"pair": "platform_vs_box_office", "field": "quantity", "count": 31}]  # fmt: skip
    statuses = [
        {"pair": "platform_vs_box_office", "left_status": "refunded", "right_status": "sold", "count": 3},
        {"pair": "platform_vs_box_office", "left_status": "paid", "right_status": "refunded", "count": 1},
        {"pair": "platform_vs_box_office", "left_status": "refunded", "right_status": "settled", "count": 1},
    ]

    attributes, status, duplicate = build_findings(rows, fields, statuses, words)

    assert (attributes.left_kind, attributes.right_kind) == ("api", "database")
    assert attributes.fields == (("quantity", 31), ("till", 2))
    # sold is mapped to settled, and an unmapped value is kept as it is: both are "refunded vs settled".
    assert status.status_pairs == (("refunded", "settled", 4), ("settled", "refunded", 1))
    assert (duplicate.side, duplicate.fields, duplicate.status_pairs) == ("box_office", (), ())
    assert recommend(duplicate).startswith("3 records are repeated in box_office ")


def test_largest_findings_come_first_then_pending_and_still_open() -> None:
    found = [finding("late", 1), finding("missing", 5, missing_in="internal"), finding("duplicate", 0)]

    sentences = recommendations(found, pending=2, still_open=1)

    assert [s.split(" ", 2)[:2] for s in sentences] == [["5", "records"], ["1", "record"], ["2", "records"],
                                                        ["1", "record"]]  # fmt: skip
    assert sentences[2] == (
        "2 records are pending inside the settlement window: no action yet; a later run matches them or"
        " reports them missing."
    )
    assert sentences[3] == (
        "1 record found missing by earlier runs is still missing: see reconciliation.breaks where status ="
        " 'open'."
    )


def test_every_class_reads_in_the_singular_and_plural() -> None:
    for make in (finding, tickets, bank):
        singular = [recommend(make(cls, 1, "internal", side="internal")) for cls in CLASSES]
        plural = [recommend(make(cls, 2, "internal", side="internal")) for cls in CLASSES]

        assert len(set(plural)) == len(CLASSES)
        assert all(s.startswith("1 ") and s.endswith(".") for s in singular)
        assert all(s.startswith("2 ") and s.endswith(".") for s in plural)
        for plural_verb in (" differ ", " carry ", " have ", " were ", " look ", "1 records", " them"):
            assert not [s for s in singular if plural_verb in s], plural_verb


# --- the spec's side: kinds of its sources, and hints validated ---


def test_each_source_type_has_its_kind() -> None:
    payouts = load_spec(SPECS / "stripe_payouts.yml")
    tickets_spec = load_spec(SPECS / "ticket_orders.yml")

    assert {s.name: source_kind(s) for s in payouts.sources} == {
        "payouts": "stripe_payouts", "settled": "stripe_balance_transactions", "bank": "file"}  # fmt: skip
    assert spec_words(tickets_spec).kinds == {"platform": "api", "box_office": "database"}
    assert spec_words(load_spec(SPECS / "oms_pos.yml")).kinds == {"oms": "api", "pos": "file"}
    words = spec_words(tickets_spec).pairs["platform_vs_box_office"]
    assert words.status_right == {"sold": "settled", "refunded": "refunded", "reserved": "open"}


def with_hints(tmp_path: Path, hints: object) -> Path:
    document = yaml.safe_load((SPECS / "ticket_orders.yml").read_text(encoding="utf-8"))
    document["reconcile"]["pairs"][0]["hints"] = hints
    path = tmp_path / "ticket_orders.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def test_a_spec_gives_its_hints_per_class(tmp_path: Path) -> None:
    spec = load_spec(
        with_hints(tmp_path, {"missing_in_right": "  Ask the box office to rerun the till export. "})
    )

    assert spec_words(spec).pairs["platform_vs_box_office"].hints == {
        "missing_in_right": "Ask the box office to rerun the till export."
    }


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ({"misssing": "Rerun."}, "hints.misssing.[key]"),
        ({"balance_mismatch": "Replay."}, "hints.balance_mismatch.[key]"),
        ({"late": ""}, "hints.late"),
        ({"late": "x" * 301}, "hints.late"),
    ],
)
def test_a_hint_for_no_class_or_an_empty_one_is_refused(tmp_path: Path, hints: dict, expected: str) -> None:
    with pytest.raises(SpecError) as raised:
        load_spec(with_hints(tmp_path, hints))

    assert expected in str(raised.value)
    assert "ticket_orders.yml" in str(raised.value)


def test_records_whose_counterparts_were_quarantined_are_told_as_unreadable_with_the_reason() -> None:
    rows = [{"pair": "stripe_vs_internal", "left_source": "stripe", "right_source": "internal",
             "break_class": "unreadable", "missing_in": "internal", "count": 2,
             "reasons": ["amount 10.005 has more decimals than USD allows", None]}]  # fmt: skip
    [found] = build_findings(rows)

    assert recommend(found) == (
        "2 records are in stripe but their counterparts were quarantined in internal (amount 10.005 has"
        " more decimals than USD allows): correct the rows in internal or the spec's mapping"
        " (staging.quarantine holds them), then rerun the window."
    )
    assert "sync" not in recommend(found)

"""The Slack messages are pure functions of a run's facts: what the channel reads is checked exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import Block

from recon.alerts.facts import ClassCount, Links, RunFacts
from recon.alerts.slack import GREEN, RED, failure_message, result_message
from recon.recommendations import BalanceWords, PairWords, Words, build_findings, recommendations
from tests.alerts._rows import (
    AIRFLOW_RUN_ID,
    RUN_ID,
    break_row,
    missing_row,
    run_facts,
    run_row,
    summary_row,
)

AIRFLOW_URL = (
    "http://localhost:8080/dags/recon_stripe_billing/runs/scheduled__2026-11-20T00%3A00%3A00%2B00%3A00"
)
DASHBOARD_URL = "http://localhost:8501/?run=stripe_billing%2F2026-11-19"

# The largest breaks of a warning run, in the order read_run_facts returns them (amount at risk, desc).
BREAKS = [
    break_row(
        "ch_currency",
        "currency_mismatch",
        left_amount=Decimal("2353.13"),
        right_amount=Decimal("2353.13"),
        right_currency="EUR",
        discrepancy_amount=Decimal("2353.13"),
    ),
    break_row(
        "ch_refunded",
        "status_mismatch",
        left_amount=Decimal("80.00"),
        right_amount=Decimal("80.00"),
        left_status="refunded",
        right_status="succeeded",
        discrepancy_amount=Decimal("80.00"),
    ),
    break_row(
        "ch_fee",
        "amount_mismatch",
        left_amount=Decimal("2500.00"),
        right_amount=Decimal("2437.50"),
        amount_difference=Decimal("62.50"),
        discrepancy_amount=Decimal("62.50"),
        customer_email="ada.lovelace@example.com",
    ),
    missing_row("ch_unsynced", "internal", "45.00"),
    missing_row("ch_orphan", "stripe", "12.00"),
    break_row(
        "ch_webhook",
        "late",
        left_amount=Decimal("10.00"),
        right_amount=Decimal("10.00"),
        time_difference_seconds=Decimal("-9000"),
    ),
]
SUMMARY = [
    summary_row(
        "EUR",
        left_total="980.00",
        right_total="980.00",
        left_record_count=4,
        right_record_count=4,
    ),
    summary_row(
        "USD",
        left_total="123456.78",
        right_total="120999.99",
        discrepancy="2562.63",
        discrepancy_percent="2.0757",
        severity="warning",
        left_record_count=1204,
        right_record_count=1203,
    ),
]


def warning_facts(**run_values: Any) -> RunFacts:
    run = run_row(severity="warning", discrepancy_percent=Decimal("2.0757"), **run_values)
    return run_facts(run, SUMMARY, BREAKS, links=Links(AIRFLOW_URL, DASHBOARD_URL))


def attachment(message: dict[str, Any]) -> dict[str, Any]:
    assert len(message["attachments"]) == 1
    return message["attachments"][0]


def sections(message: dict[str, Any]) -> list[str]:
    return [block["text"]["text"] for block in attachment(message)["blocks"] if block["type"] == "section"]


def section(message: dict[str, Any], title: str) -> str:
    """The one section that starts with ``*<title>*``."""
    found = [text for text in sections(message) if text.startswith(f"*{title}*\n")]
    assert len(found) == 1, f"{title!r} in {sections(message)}"
    return found[0]


def has_section(message: dict[str, Any], title: str) -> bool:
    return any(text.startswith(f"*{title}*") for text in sections(message))


def items(text: str) -> list[str]:
    """The bullet lines of a section, without their bullets."""
    return [line.removeprefix("• ") for line in text.splitlines()[1:]]


def context_text(message: dict[str, Any]) -> str:
    blocks = attachment(message)["blocks"]
    assert blocks[-1]["type"] == "context"
    return " ".join(element["text"] for element in blocks[-1]["elements"])


def assert_valid_block_kit(message: dict[str, Any]) -> list[str]:
    """Parse the attachment back with slack_sdk's models and validate it as Slack would; the block types."""
    raw = attachment(message)
    blocks = [Block.parse(block) for block in raw["blocks"]]
    assert None not in blocks, raw["blocks"]  # an unknown block type parses to None
    for parsed, block in zip(blocks, raw["blocks"], strict=True):
        parsed.validate_json()
        assert parsed.to_dict() == block  # nothing that slack_sdk does not know was dropped
    rebuilt = BlockAttachment(blocks=blocks, color=raw["color"], fallback=raw["fallback"])
    rebuilt.validate_json()
    assert rebuilt.to_dict() == raw
    json.dumps(message)  # it goes into a jsonb column and over HTTP as it is
    for text in sections(message):
        assert len(text) <= 3000
    return [block["type"] for block in raw["blocks"]]


@pytest.mark.parametrize(
    ("status", "severity", "colour"),
    [
        ("discrepancy_found", "warning", "#FFA500"),  # orange
        ("discrepancy_found", "critical", "#FF0000"),  # red
        ("success", "ok", "#2EB67D"),  # green
        ("success", "info", "#2EB67D"),  # breaks within the run's tolerance
    ],
)
def test_the_colour_bar_follows_the_runs_status_and_severity(status: str, severity: str, colour: str) -> None:
    facts = run_facts(run_row(status, severity), SUMMARY, BREAKS)

    assert attachment(result_message(facts))["color"] == colour


def test_the_notification_text_names_the_spec_window_break_count_and_percent() -> None:
    message = result_message(warning_facts())

    assert message["text"] == "stripe_billing 2026-11-19: 6 breaks, 2.08 % discrepancy"
    assert attachment(message)["fallback"] == message["text"]
    assert attachment(message)["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": message["text"], "emoji": True},
    }


def test_one_break_is_told_in_the_singular() -> None:
    facts = run_facts(run_row(discrepancy_percent=Decimal("0.1")), SUMMARY, BREAKS[:1])

    assert result_message(facts)["text"] == "stripe_billing 2026-11-19: 1 break, 0.10 % discrepancy"


def test_a_window_shorter_than_a_day_is_told_with_its_times_in_utc() -> None:
    run = run_row(
        window_start=datetime(2026, 11, 19, 13, 45, tzinfo=UTC),
        window_end=datetime(2026, 11, 19, 14, 0, tzinfo=UTC),
        discrepancy_percent=Decimal("3"),
    )

    message = result_message(run_facts(run, SUMMARY, BREAKS[:2]))

    assert message["text"] == "stripe_billing 2026-11-19 13:45–14:00 UTC: 2 breaks, 3.00 % discrepancy"


def test_a_clean_run_says_all_records_match_and_lists_no_breaks() -> None:
    facts = run_facts(run_row("success", "ok"), SUMMARY[:1], [])

    message = result_message(facts)

    assert message["text"] == "stripe_billing 2026-11-19: all records match"
    assert attachment(message)["color"] == GREEN
    assert not has_section(message, "Breaks by class")
    assert not has_section(message, "Largest breaks")
    assert not has_section(message, "What to do")


def test_the_status_line_states_status_severity_and_the_critical_threshold() -> None:
    message = result_message(warning_facts())

    assert sections(message)[0] == (
        "*Status:* `discrepancy_found` · *severity:* warning"
        " (critical above 5.00 % of a pair and currency's total)"
    )


def every_section_facts() -> RunFacts:
    failure = {
        "rule_name": "amount_not_null",
        "severity": "high",
        "checkpoint": "after_load",
        "source": "internal",
        "unexpected_count": 1,
        "unexpected_percent": "0.1",
    }
    run = run_row(recommendations=["Check the webhook."], pending_count=2, integrity_failures=[failure])
    return run_facts(
        run, SUMMARY, BREAKS, still_open=1, quarantined=1, links=Links(AIRFLOW_URL, DASHBOARD_URL)
    )


@pytest.mark.parametrize(
    ("facts", "sections_between"),
    [
        pytest.param(warning_facts(), ["section"] * 4, id="warning"),
        pytest.param(run_facts(run_row("success", "ok"), [], []), ["section"] * 2, id="no-records"),
        pytest.param(every_section_facts(), ["section"] * 6, id="every-section"),
    ],
)
def test_the_result_message_is_valid_block_kit(facts: RunFacts, sections_between: list[str]) -> None:
    types = assert_valid_block_kit(result_message(facts))

    assert types == ["header", *sections_between, "divider", "context"]


def test_every_section_stays_within_slacks_limit_with_many_long_breaks_and_recommendations() -> None:
    breaks = [
        break_row(
            f"ch_{n:02d}_" + "x" * 300,
            "amount_mismatch",
            left_amount=Decimal("1000.00") + n,
            right_amount=Decimal("10.00"),
            amount_difference=Decimal("990.00") + n,
        )
        for n in range(20, 0, -1)
    ]
    recommendations = [
        f"Recommendation {n}: " + "check the exports and the webhook queue. " * 40 for n in "12345"
    ]
    facts = run_facts(run_row(recommendations=recommendations), SUMMARY, breaks)

    message = result_message(facts)

    assert_valid_block_kit(message)
    largest = section(message, "Largest breaks")
    assert largest.endswith("\n…(more in the run)")
    listed = items(largest)[:-1]
    assert 0 < len(listed) < 20
    # Cut at a line: each listed break is whole, in order from the largest.
    for line, n in zip(listed, range(20, 0, -1), strict=False):
        assert line.startswith(f"ch_{n:02d}_")
        assert line.endswith(f"({990 + n:,}.00 apart) [stripe vs internal]")
    advice = section(message, "What to do")
    assert advice.endswith("\n…(more in the run)")
    assert all(line.startswith(("Recommendation 1:", "Recommendation 2:")) for line in items(advice)[:-1])
    assert "Recommendation 4" not in advice


def test_the_totals_give_both_sides_per_pair_and_currency_with_thousands_separators() -> None:
    message = result_message(warning_facts())

    assert items(section(message, "Totals")) == [
        "stripe_vs_internal EUR: stripe 980.00 (4) vs internal 980.00 (4); discrepancy 0 EUR (0.00 %)",
        "stripe_vs_internal USD: stripe 123,456.78 (1,204) vs internal 120,999.99 (1,203);"
        " discrepancy 2,562.63 USD (2.08 %)",
    ]


def test_a_run_without_records_says_so_in_its_totals() -> None:
    message = result_message(run_facts(run_row("success", "ok"), [], []))

    assert section(message, "Totals") == "*Totals*\nno records in the window"


def test_breaks_are_counted_per_class_in_words_with_pending_and_still_open() -> None:
    counts = [
        ClassCount("missing", "internal", 1207),
        ClassCount("missing", "stripe", 4),
        ClassCount("amount_mismatch", None, 3),
        ClassCount("currency_mismatch", None, 2),
        ClassCount("status_mismatch", None, 2),
        ClassCount("late", None, 1),
        ClassCount("duplicate", None, 1, "internal"),
        ClassCount("near_duplicate", None, 1, "internal"),
        ClassCount("stuck", None, 1),
    ]
    facts = run_facts(run_row(pending_count=5), SUMMARY, BREAKS, counts=counts, still_open=35, seen_again=7)

    message = result_message(facts)

    assert items(section(message, "Breaks by class")) == [
        "missing in internal: *1,207* · missing in stripe: *4* · amount mismatches: *3*"
        " · currency mismatches: *2* · status mismatches: *2* · late records: *1* · duplicates in internal:"
        " *1* · likely double submissions in internal: *1* · stuck records: *1*"
        " · pending (held for a later run): 5 · still open from earlier runs: 35 (7 still missing in"
        " this run)"
    ]
    assert message["text"].startswith("stripe_billing 2026-11-19: 1,222 breaks")


def test_pending_and_still_open_are_left_out_when_there_are_none() -> None:
    message = result_message(warning_facts())

    counted = section(message, "Breaks by class")
    assert "pending" not in counted
    assert "still open" not in counted


def test_still_open_breaks_are_reported_even_without_new_ones() -> None:
    message = result_message(run_facts(run_row("success", "ok"), [summary_row("USD")], [], still_open=2))

    assert items(section(message, "Breaks by class")) == ["still open from earlier runs: 2"]


def test_only_the_first_three_recommendations_are_listed() -> None:
    advice = ["Sync ch_1.", "Check fees.", "Update refunds.", "Look at the clock.", "Fifth."]

    message = result_message(warning_facts(recommendations=advice))

    assert items(section(message, "What to do")) == advice[:3]


def test_no_recommendations_means_no_what_to_do_section() -> None:
    assert not has_section(result_message(warning_facts(recommendations=[])), "What to do")
    assert not has_section(result_message(warning_facts(recommendations=None)), "What to do")


def test_the_largest_breaks_show_the_values_that_differ() -> None:
    message = result_message(warning_facts())

    assert items(section(message, "Largest breaks")) == [
        "ch_currency currency mismatch: 2,353.13 USD vs 2,353.13 EUR [stripe vs internal]",
        "ch_refunded status mismatch: refunded vs succeeded (80.00 USD) [stripe vs internal]",
        "ch_fee amount mismatch: 2,500.00 vs 2,437.50 USD (62.50 apart) [stripe vs internal] · a***@e***.com",
        "ch_unsynced missing in internal: 45.00 USD in stripe [stripe vs internal]",
        "ch_orphan missing in stripe: 12.00 USD in internal [stripe vs internal]",
        "ch_webhook late: 2h 30m apart (10.00 USD) [stripe vs internal]",
    ]
    assert "None" not in json.dumps(message)


def test_duplicates_name_the_side_that_repeated() -> None:
    repeats = [
        break_row("ch_twice", "duplicate", left_record_keys=None, left_amount=None,
                  right_amount=Decimal("25.00"), discrepancy_amount=Decimal("25.00")),
        break_row("ch_again", "near_duplicate", right_record_keys=None, left_amount=Decimal("9.50"),
                  right_amount=None, discrepancy_amount=Decimal("9.50")),
    ]  # fmt: skip

    message = result_message(run_facts(run_row(), SUMMARY, repeats))

    assert items(section(message, "Largest breaks")) == [
        "ch_twice duplicate in internal: 25.00 USD [stripe vs internal]",
        "ch_again likely double submission in stripe: 9.50 USD [stripe vs internal]",
    ]


def test_status_codes_show_the_word_the_pair_maps_them_to() -> None:
    words = Words(pairs={"stripe_vs_internal": PairWords(status_left={"0": "completed", "2": "processing"},
                                                         status_right={"done": "completed"})})  # fmt: skip
    statuses = [
        break_row("ch_1", "status_mismatch", left_amount=Decimal("80.00"), right_amount=Decimal("80.00"),
                  left_status="0", right_status="pending", discrepancy_amount=Decimal("80.00")),
        break_row("ch_2", "status_mismatch", left_amount=Decimal("5.00"), right_amount=Decimal("5.00"),
                  left_status="7", right_status="done", discrepancy_amount=Decimal("5.00")),
        break_row("ch_3", "stuck", right_record_keys=None, left_amount=Decimal("3.00"), left_status="2",
                  right_status=None, discrepancy_amount=Decimal("3.00")),
        break_row("ch_4", "stuck", left_record_keys=None, right_amount=Decimal("2.00"), left_status=None,
                  right_status="done", discrepancy_amount=Decimal("2.00")),
    ]  # fmt: skip

    shown = items(
        section(result_message(run_facts(run_row(), SUMMARY, statuses, words=words)), "Largest breaks")
    )
    plain = items(section(result_message(run_facts(run_row(), SUMMARY, statuses)), "Largest breaks"))

    # A code the map leaves alone (7, pending) is shown as it is; a mapped one with its word.
    assert shown == [
        "ch_1 status mismatch: 0 (completed) vs pending (80.00 USD) [stripe vs internal]",
        "ch_2 status mismatch: 7 vs done (completed) (5.00 USD) [stripe vs internal]",
        "ch_3 stuck in 2 (processing): 3.00 USD [stripe vs internal]",
        "ch_4 stuck in done (completed): 2.00 USD [stripe vs internal]",
    ]
    assert plain[0] == "ch_1 status mismatch: 0 vs pending (80.00 USD) [stripe vs internal]"


def test_a_balance_break_names_its_entity_once_with_what_each_side_holds() -> None:
    def balance_break(**values: Any) -> dict[str, Any]:
        row = dict(
            pair="wallets", left_source="balances", right_source="ledger", left_record_keys=["0xabc"],
            right_record_keys=["e1", "e2"], left_amount=Decimal("10.00"), right_amount=Decimal("9.50"),
            amount_difference=Decimal("0.50"), currency="ETH", discrepancy_amount=Decimal("0.50"),
        )  # fmt: skip
        return break_row("0xabc", "balance_mismatch", **{**row, **values})

    missing = break_row(
        "0x123", "missing", pair="wallets", missing_in="balances", left_source="balances",
        right_source="ledger", left_record_keys=None, right_record_keys=["e3", "e4"],
        right_amount=Decimal("2.00"), currency="ETH", discrepancy_amount=Decimal("2.00"),
    )  # fmt: skip
    wallets = Words(pairs={"wallets": PairWords(balance=BalanceWords("user_id", "balance", "entries"))})
    chain = Words(pairs={"wallets": PairWords(balance=BalanceWords("address", "balance", "balance"))})
    both = balance_break(right_record_keys=["0xABC"])

    def shown(breaks: list[dict[str, Any]], words: Words | None = None) -> list[str]:
        return items(
            section(result_message(run_facts(run_row(), SUMMARY, breaks, words=words)), "Largest breaks")
        )

    assert shown([balance_break(), missing], wallets) == [
        "user_id 0xabc: balance 10.00 vs entries 9.50 ETH (0.50 apart) [balances vs ledger]",
        "user_id 0x123 missing in balances: 2.00 ETH in ledger [balances vs ledger]",
    ]
    assert shown([both], chain) == [
        "address 0xabc: balance 10.00 vs 9.50 ETH (0.50 apart) [balances vs ledger]"
    ]
    # Without the spec's words, a balance break still shows its entity once, not both sides' keys.
    assert shown([both]) == ["0xabc balance mismatch: 10.00 vs 9.50 ETH (0.50 apart) [balances vs ledger]"]


def test_the_recommendations_of_the_run_are_what_to_do() -> None:
    words = Words(
        {"stripe": "stripe_charges", "internal": "file"},
        {"stripe_vs_internal": PairWords(hints={"missing_in_right": "Ask ops to resend the export."})},
    )
    rows = [{"pair": "stripe_vs_internal", "left_source": "stripe", "right_source": "internal",
             "break_class": cls, "count": count, "missing_in": missing_in, "side": side, "statuses": None}
            for cls, count, missing_in, side in [("missing", 7, "internal", "stripe"),
                                                 ("duplicate", 3, "stripe", "internal"),
                                                 ("amount_mismatch", 1, None, None)]]  # fmt: skip
    advice = recommendations(build_findings(rows, words=words))

    message = result_message(warning_facts(recommendations=advice))

    assert items(section(message, "What to do")) == [
        "7 records are in stripe but not in internal: check that internal's file for the window arrived"
        " complete (every line, none quarantined) and the date each line is booked on (a line booked a day"
        " later is in the next file); if internal is written from Stripe's webhooks, check their delivery"
        " (Stripe's webhook log). Ask ops to resend the export.",
        "3 records are repeated in internal (a key already seen there): check whether internal's file was"
        " delivered twice or overlaps the one before, and remove the repeated lines.",
        "1 record differs in amount between stripe and internal beyond the tolerance: check fees, partial"
        " captures and refunds in stripe; charges deducted and the amount format of internal's file"
        " (separators, major or minor units).",
    ]


def test_a_currency_mismatch_of_different_amounts_shows_each_side_in_its_currency() -> None:
    mismatch = break_row(
        "ch_fx",
        "currency_mismatch",
        left_amount=Decimal("100.00"),
        right_amount=Decimal("92.17"),
        right_currency="EUR",
        discrepancy_amount=Decimal("100.00"),
    )

    message = result_message(run_facts(run_row(), SUMMARY, [mismatch]))

    assert items(section(message, "Largest breaks")) == [
        "ch_fx currency mismatch: 100.00 USD vs 92.17 EUR [stripe vs internal]"
    ]


def test_emails_and_phone_numbers_in_breaks_are_masked() -> None:
    phone_key = missing_row("+44 20 7946 0958", "internal", "5.00", customer_email="grace.hopper@navy.mil")
    facts = run_facts(run_row(), SUMMARY, [*BREAKS, phone_key])

    message = result_message(facts)

    text = json.dumps(message, ensure_ascii=False)
    for personal in ("ada.lovelace@example.com", "lovelace", "grace.hopper", "7946", "+44 20"):
        assert personal not in text
    listed = items(section(message, "Largest breaks"))
    assert listed[2].endswith(" · a***@e***.com")
    assert listed[-1] == "***58 missing in internal: 5.00 USD in stripe [stripe vs internal] · g***@n***.mil"


def test_emails_and_phone_numbers_in_recommendations_are_masked() -> None:
    run = run_row(recommendations=["Call ada.lovelace@example.com or +44 20 7946 0958 about the refund."])

    message = result_message(run_facts(run, SUMMARY, BREAKS[:1]))

    assert items(section(message, "What to do")) == ["Call a***@e***.com or ***58 about the refund."]
    text = json.dumps(message, ensure_ascii=False)
    assert "lovelace" not in text
    assert "7946" not in text


def test_the_links_go_to_the_airflow_run_and_the_dashboard() -> None:
    message = result_message(warning_facts())

    assert context_text(message) == (
        f"<{AIRFLOW_URL}|Airflow run> · <{DASHBOARD_URL}|Dashboard>"
        f" · run `{RUN_ID}` · `reconciliation.run_breaks`"
    )


def test_without_links_the_context_still_names_the_run() -> None:
    message = result_message(run_facts(run_row(), SUMMARY, BREAKS))

    assert context_text(message) == f"run `{RUN_ID}` · `reconciliation.run_breaks`"


def test_slack_control_characters_in_data_are_escaped() -> None:
    odd = break_row(
        "a<b>&c",
        "amount_mismatch",
        left_amount=Decimal("3.00"),
        right_amount=Decimal("1.00"),
        amount_difference=Decimal("2.00"),
    )
    run = run_row(recommendations=["Check <https://evil.example|this> & that."])

    message = result_message(run_facts(run, SUMMARY, [odd], links=Links(AIRFLOW_URL, None)))

    assert items(section(message, "Largest breaks")) == [
        "a&lt;b&gt;&amp;c amount mismatch: 3.00 vs 1.00 USD (2.00 apart) [stripe vs internal]"
    ]
    assert items(section(message, "What to do")) == ["Check &lt;https://evil.example|this&gt; &amp; that."]
    text = json.dumps(message)
    assert "a<b>" not in text
    assert "<https://evil.example" not in text
    assert f"<{AIRFLOW_URL}|Airflow run>" in context_text(message)  # links themselves stay links


# As publish_run stores them: loudest first, with what each failure did.
FAILURES = [
    {"rule_name": "amount_not_negative", "severity": "critical", "on_fail": "mark", "checkpoint": "staging",
     "source": "internal", "unexpected_count": 3, "unexpected_percent": "0.4231"},
    {"rule_name": "known_status", "severity": "high", "on_fail": "quarantine", "checkpoint": "staging",
     "source": "internal", "unexpected_count": 1234, "unexpected_percent": "10.2"},
    {"rule_name": "reference_format", "severity": "medium", "on_fail": "mark", "checkpoint": "staging",
     "source": "stripe", "unexpected_count": None, "unexpected_percent": None},
    {"rule_name": "no_duplicates", "severity": "low", "on_fail": "mark", "checkpoint": "results",
     "source": "stripe", "unexpected_count": 1, "unexpected_percent": "0.001"},
]  # fmt: skip


def test_every_failed_rule_is_listed_with_its_count_and_share_and_quarantined_rows_apart() -> None:
    facts = run_facts(
        run_row(integrity_failures=FAILURES), SUMMARY, BREAKS, quarantined=2, links=Links(AIRFLOW_URL)
    )

    message = result_message(facts)

    assert items(section(message, "Integrity rules failed")) == [
        "critical amount_not_negative on internal: 3 rows (0.42 %)",
        "high known_status on internal: 1,234 rows (10.20 %), moved to quarantine",
        "medium reference_format on stripe: could not be checked",
        "low no_duplicates on stripe: 1 row (&lt;0.01 %)",
        "2 malformed row(s) quarantined (staging.quarantine)",
    ]
    assert message["text"] == (
        "stripe_billing 2026-11-19: 6 breaks, 0.00 % discrepancy; 4 integrity rules failed"
    )
    assert_valid_block_kit(message)


@pytest.mark.parametrize(
    ("severity", "colour"),
    [("critical", RED), ("warning", "#FFA500"), ("info", GREEN)],
    ids=["critical_rule", "high_or_medium_rule", "low_rule"],
)
def test_a_run_with_no_breaks_but_a_failed_rule_says_so_in_the_colour_of_its_severity(
    severity: str, colour: str
) -> None:
    # publish_run sets the run's severity from its failed rules: critical, warning (high, medium), info.
    run = run_row("success", severity, integrity_failures=FAILURES[:1])

    message = result_message(run_facts(run, SUMMARY[:1], []))

    assert message["text"] == "stripe_billing 2026-11-19: all records match; 1 integrity rule failed"
    assert attachment(message)["color"] == colour
    assert items(section(message, "Integrity rules failed")) == [
        "critical amount_not_negative on internal: 3 rows (0.42 %)"
    ]


def test_quarantined_rows_alone_are_listed() -> None:
    message = result_message(run_facts(run_row(), SUMMARY, BREAKS, quarantined=1))

    assert items(section(message, "Integrity rules failed")) == [
        "1 malformed row(s) quarantined (staging.quarantine)"
    ]


@pytest.mark.parametrize("failures", [[], None])
def test_no_integrity_section_without_failures_or_quarantined_rows(failures: list | None) -> None:
    message = result_message(run_facts(run_row(integrity_failures=failures), SUMMARY, BREAKS))

    assert not has_section(message, "Integrity rules failed")


def test_the_failure_message_names_dag_task_run_error_and_log() -> None:
    message = failure_message(
        "stripe_billing",
        "recon_stripe_billing",
        "load_staging",
        AIRFLOW_RUN_ID,
        "2026-11-19",
        "UniqueViolation: duplicate key for ada.lovelace@example.com <ch_1>",
        "http://localhost:8080/log?task=load_staging",
    )

    assert message["text"] == "stripe_billing 2026-11-19: the reconciliation failed in load_staging"
    assert attachment(message)["color"] == RED
    assert assert_valid_block_kit(message) == ["header", "section", "section", "section", "context"]
    texts = sections(message)
    assert (
        texts[0]
        == f"*DAG:* `recon_stripe_billing` · *task:* `load_staging`\n*Airflow run:* `{AIRFLOW_RUN_ID}`"
    )
    assert texts[1] == "*Error*\n```UniqueViolation: duplicate key for a***@e***.com &lt;ch_1&gt;```"
    assert "lovelace" not in json.dumps(message)
    assert context_text(message) == "<http://localhost:8080/log?task=load_staging|Task log in Airflow>"


def test_a_failure_without_a_log_link_says_so_and_a_long_error_is_cut_to_fit() -> None:
    message = failure_message(
        "stripe_billing",
        "recon_stripe_billing",
        "extract_stripe",
        AIRFLOW_RUN_ID,
        "2026-11-19",
        "x" * 10_000,
        None,
    )

    assert_valid_block_kit(message)
    assert context_text(message) == "no log link"
    error = sections(message)[1]
    assert error.startswith("*Error*\n```xxx")
    assert error.endswith("x```")


def test_an_unreadable_break_says_its_counterpart_was_quarantined_and_why() -> None:
    from recon.alerts.facts import describe_break

    reason = "amount 10.005 has more decimals than USD allows (2)"
    item = {
        **missing_row("ch_9", "internal", "10.00"),
        "break_class": "unreadable",
        "quarantine_reason": reason,
    }

    line = describe_break(item)
    label = ClassCount("unreadable", "internal", 1).label

    assert (
        line
        == f"ch_9 unreadable in internal: 10.00 USD in stripe; quarantined: {reason} [stripe vs internal]"
    )
    assert label == "unreadable in internal (quarantined)"

"""Recommendations: one actionable sentence per finding, largest first, named after the sources."""

from __future__ import annotations

from recon.recommendations import Finding, recommend, recommendations


def finding(break_class: str, count: int, missing_in: str | None = None, **extra) -> Finding:
    return Finding("stripe_vs_internal", "stripe", "internal", break_class, count, missing_in, **extra)


def test_a_missing_record_names_where_it_is_and_where_it_is_not() -> None:
    assert recommend(finding("missing", 12, missing_in="internal")) == (
        "12 records are in stripe but not in internal: check that internal receives them"
        " (webhook delivery, exports, sync jobs), or sync them."
    )
    assert recommend(finding("missing", 1, missing_in="stripe")).startswith(
        "1 record is in internal but not in stripe:"
    )


def test_stuck_records_name_their_statuses() -> None:
    sentence = recommend(finding("stuck", 3, statuses=("processing",)))

    assert sentence == (
        "3 records are stuck in processing for longer than allowed: retry or cancel them with the provider."
    )


def test_every_class_gets_its_own_advice() -> None:
    classes = ["amount_mismatch", "currency_mismatch", "status_mismatch", "attribute_mismatch", "late",
               "duplicate", "near_duplicate", "group_mismatch", "balance_mismatch", "stuck",
               "missing"]  # fmt: skip

    sentences = [recommend(finding(name, 2, missing_in="internal")) for name in classes]

    assert len(set(sentences)) == len(classes)
    assert all(sentence.startswith("2 ") and sentence.endswith(".") for sentence in sentences)


def test_largest_findings_come_first_then_pending_and_still_open() -> None:
    found = [finding("late", 1), finding("missing", 5, missing_in="internal"), finding("duplicate", 0)]

    sentences = recommendations(found, pending=2, still_open=1)

    assert [s.split(" ", 2)[:2] for s in sentences] == [["5", "records"], ["1", "record"], ["2", "records"],
                                                        ["1", "record"]]  # fmt: skip
    assert "pending inside the settlement window" in sentences[2]
    assert "still missing" in sentences[3]
    assert all("0 records" not in sentence for sentence in sentences)


def test_one_record_reads_in_the_singular() -> None:
    classes = ["amount_mismatch", "currency_mismatch", "status_mismatch", "attribute_mismatch", "late",
               "duplicate", "near_duplicate", "stuck", "missing"]  # fmt: skip

    sentences = [recommend(finding(name, 1, missing_in="internal")) for name in classes]

    assert all(sentence.startswith("1 record ") for sentence in sentences)
    for plural_verb in (" differ ", " carry ", " have ", " were ", " repeat a", " look ", " are ", " them"):
        assert not [s for s in sentences if plural_verb in s], plural_verb
    assert recommend(finding("group_mismatch", 1)).startswith("1 group total (")
    assert recommend(finding("balance_mismatch", 1)).startswith("1 balance differs ")

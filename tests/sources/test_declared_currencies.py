"""A spec's own currency codes (tokens, points) and personal fields, as the spec's sources read them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from recon.integrity.suites import ISO_4217, build_batches
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.spec import Spec, SpecError, load_spec

ITEM = {"id": "w_1", "balance": {"value": "1.50000000", "code": "FLOW"}, "at": "2026-11-19T10:00:00Z"}


def spec_document(**top: Any) -> dict[str, Any]:
    fields = {"record_key": "id", "amount": "balance.value", "currency": "balance.code", "occurred_at": "at"}
    source = {
        "type": "postgres",
        "connection": "app_db",
        "query": "select * from t where at >= %(window_start)s and at < %(window_end)s",
        "fields": fields,
    }
    return {
        "name": "wallets",
        "description": "wallets",
        "owner": "team",
        "schedule": "@daily",
        "sources": [{**source, "fields": dict(fields), "name": name} for name in ("app", "chain")],
        **top,
    }


def write(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / f"{document['name']}.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return str(raised.value)


def map_one(spec: Spec, item: dict[str, Any], source: int = 0) -> CanonicalRecord | QuarantinedRecord:
    return spec.sources[source].map_item(item, "postgres://app_db", 1)


def test_a_declared_token_is_read_by_its_own_decimals() -> None:
    spec = Spec.model_validate(spec_document(currencies={"FLOW": 8, "USDC": 6, "POINTS": 0}))

    flow = map_one(spec, ITEM)
    points = map_one(spec, {**ITEM, "balance": {"value": "40", "code": "points"}})

    assert isinstance(flow, CanonicalRecord) and isinstance(points, CanonicalRecord)
    assert (flow.amount, flow.currency) == (Decimal("1.50000000"), "FLOW")
    assert (points.amount, points.currency) == (Decimal("40"), "POINTS")


@pytest.mark.parametrize(
    ("balance", "reason"),
    [
        (
            {"value": "1.123456789", "code": "FLOW"},
            "amount '1.123456789' at 'balance.value' has more decimals than FLOW allows (8, as declared"
            " under currencies)",
        ),
        (
            {"value": "0.5", "code": "POINTS"},
            "has more decimals than POINTS allows (0, as declared under currencies)",
        ),
        (
            {"value": "1", "code": "USDT"},
            "currency 'USDT' at 'balance.code' is not an ISO 4217 code nor one the spec declares under"
            " currencies (declared: FLOW, POINTS)",
        ),
    ],
)
def test_an_amount_finer_than_its_currency_or_an_undeclared_code_is_quarantined(
    balance: dict[str, str], reason: str
) -> None:
    spec = Spec.model_validate(spec_document(currencies={"FLOW": 8, "POINTS": 0}))

    record = map_one(spec, {**ITEM, "balance": balance})

    assert isinstance(record, QuarantinedRecord)
    assert reason in record.reason


def test_without_a_declaration_a_token_is_quarantined_and_iso_codes_read_as_before() -> None:
    spec = Spec.model_validate(spec_document())

    token = map_one(spec, ITEM)
    yen = map_one(spec, {**ITEM, "balance": {"value": "1200", "code": "JPY"}})

    assert isinstance(token, QuarantinedRecord)
    assert "currency 'FLOW' at 'balance.code' is not an ISO 4217 code" in token.reason
    assert "(declared: none)" in token.reason
    assert isinstance(yen, CanonicalRecord) and yen.amount == Decimal("1200")


def test_a_fixed_token_currency_must_be_declared(tmp_path: Path) -> None:
    document = spec_document()
    document["sources"][1]["currency"] = "USDC"
    del document["sources"][1]["fields"]["currency"]

    message = load_error(write(tmp_path, document))
    declared = Spec.model_validate({**document, "currencies": {"USDC": 6}})

    assert "field 'sources.1.currency'" in message
    assert "'USDC' is not an ISO 4217 code nor one the spec declares under currencies" in message
    assert "currencies: {USDC: 8}" in message
    record = map_one(declared, {**ITEM, "balance": {"value": "2.500001"}}, source=1)
    assert isinstance(record, CanonicalRecord) and (record.amount, record.currency) == (
        Decimal("2.500001"),
        "USDC",
    )


@pytest.mark.parametrize(
    ("currencies", "message"),
    [
        ({"KWD": 2}, "currencies.KWD: KWD is an ISO 4217 currency with 3 decimals, not 2"),
        ({"usdc": 6}, "currencies.usdc: a code is 2 to 12 upper-case letters and digits"),
        ({"FLOW": 40}, "less than or equal to 38"),
        ({"FLOW": -1}, "greater than or equal to 0"),
    ],
)
def test_a_bad_currencies_section_is_located(tmp_path: Path, currencies: dict, message: str) -> None:
    path = write(tmp_path, spec_document(currencies=currencies))
    line = path.read_text().splitlines().index("currencies:") + 1

    error = load_error(path)

    assert "field 'currencies" in error
    assert f"(line {line})" in error or f"(line {line + 1})" in error  # the section or its code
    assert message in error


def test_the_currency_rule_accepts_the_declared_codes_beside_iso_4217() -> None:
    declared = Spec.model_validate(spec_document(currencies={"FLOW": 8, "ETH": 18}))
    plain = Spec.model_validate(spec_document())

    def value_set(spec: Spec) -> list[str]:
        checks = [check for batch in build_batches(spec) for check in batch.checks]
        (first, *_) = [check for check in checks if check.rule.rule_name == "currency_iso_4217"]
        return first.kwargs["value_set"]

    assert {"FLOW", "ETH", "USD", "KES"} <= set(value_set(declared))
    assert set(value_set(declared)) == {*ISO_4217, "FLOW", "ETH"}
    assert value_set(plain) == list(ISO_4217) and "FLOW" not in value_set(plain)


def test_a_personal_field_is_masked_when_mapped_and_in_the_quarantined_raw_item() -> None:
    document = spec_document()
    document["sources"][0]["fields"]["reference"] = "note"
    document["sources"][0]["attributes"] = {"msisdn": "payer.msisdn", "till": "till"}
    document["sources"][0]["personal"] = ["reference", "attributes.msisdn"]
    spec = Spec.model_validate(document)
    payer = {
        "payer": {"msisdn": 254712345678},
        "till": "0712345678",
        "note": "paid by 0712 345 678, order 4471",
    }

    record = map_one(spec, {**ITEM, "balance": {"value": "1", "code": "KES"}, **payer})
    rejected = map_one(spec, {**ITEM, "balance": {"value": "1.001", "code": "KES"}, **payer})

    assert isinstance(record, CanonicalRecord)
    assert record.reference == "paid by ***78, order 4471"
    # Only the declared attribute is masked: till is not personal and is stored as read.
    assert record.attributes == {"msisdn": "***78", "till": "0712345678"}
    assert isinstance(rejected, QuarantinedRecord)
    assert rejected.raw["payer"] == {"msisdn": "***78"}
    assert rejected.raw["note"] == "paid by ***78, order 4471"
    assert "254712345678" not in str(rejected.raw)


def test_a_personal_field_that_a_pair_matches_on_is_refused(tmp_path: Path) -> None:
    document = spec_document(
        reconcile={
            "pairs": [
                {"left": "app", "right": "chain", "keys": {"left": ["record_key"], "right": ["reference"]}}
            ]
        }
    )
    document["sources"][1]["fields"]["reference"] = "msisdn"
    document["sources"][1]["personal"] = ["reference"]
    compared = spec_document(
        reconcile={"pairs": [{"left": "app", "right": "chain", "compare": {"attributes": ["msisdn"]}}]}
    )
    compared["sources"][0]["attributes"] = {"msisdn": "payer.msisdn"}
    compared["sources"][0]["personal"] = ["attributes"]

    keyed = load_error(write(tmp_path, document))
    (tmp_path / "wallets.yml").unlink()
    by_attribute = load_error(write(tmp_path, compared))

    assert "field 'sources.1.personal'" in keyed
    assert (
        "reference is matched on by pair 'app_vs_chain'; a masked value would match unrelated records"
        in keyed
    )
    assert "field 'sources.0.personal'" in by_attribute
    assert "attributes.msisdn is matched on by pair 'app_vs_chain'" in by_attribute


def test_a_record_key_cannot_be_personal(tmp_path: Path) -> None:
    document = spec_document()
    document["sources"][0]["personal"] = ["record_key"]

    message = load_error(write(tmp_path, document))

    assert "field 'sources.0.personal'" in message
    assert "record_key cannot be masked" in message

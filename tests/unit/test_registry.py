"""Source types plug in: each module registers itself and the spec accepts exactly those types."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import pytest
from pydantic import ValidationError

from recon.sources.base import FileSource, RecordSource, SourceConfig
from recon.sources.registry import register, source_models
from recon.spec import Spec


def test_every_registered_type_is_a_record_or_a_file_source() -> None:
    models = source_models()

    assert {"stripe_charges", "sftp_csv"} <= set(models)
    for name, model in models.items():
        assert issubclass(model, RecordSource | FileSource), name
        assert model.model_fields["type"].annotation == Literal[name]


def test_an_unknown_type_in_a_spec_is_refused_naming_every_registered_type() -> None:
    document = {"name": "x", "description": "d", "owner": "o", "schedule": "@daily"}
    document["sources"] = [{"name": "a", "type": "ftp_csv", "connection": "c"}] * 2

    with pytest.raises(ValidationError) as raised:
        Spec.model_validate(document)

    for type_name in source_models():
        assert f"'{type_name}'" in str(raised.value)


def test_a_type_name_cannot_be_registered_twice() -> None:
    class Impostor(RecordSource):
        type: Literal["stripe_charges"]

    with pytest.raises(ValueError) as raised:
        register(Impostor)

    assert "'stripe_charges' is registered twice" in str(raised.value)
    assert source_models()["stripe_charges"] is not Impostor


def test_the_rejected_share_defaults_to_one_percent_and_is_exact() -> None:
    default = SourceConfig.model_validate({"name": "bank", "connection": "bank_sftp"})
    given = SourceConfig.model_validate(
        {"name": "bank", "connection": "bank_sftp", "max_rejected_share": 0.1}
    )

    assert default.max_rejected_share == Decimal("0.01")
    assert given.max_rejected_share == Decimal("0.1")


def test_a_rejected_share_above_one_is_refused() -> None:
    with pytest.raises(ValidationError):
        SourceConfig.model_validate({"name": "bank", "connection": "c", "max_rejected_share": "1.5"})

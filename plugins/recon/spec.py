"""Reconciliation specs: one YAML file declares one reconciliation.

A spec is validated with pydantic when it is loaded, so a wrong or missing field fails at load time
with a message that names the file, the field and its line, before any DAG or task exists.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from recon.sources.base import SourceConfig
from recon.sources.registry import source_models

NAME = r"^[a-z][a-z0-9_]*$"
Severity = Literal["critical", "warning"]


class SpecError(ValueError):
    """A spec file that cannot be used, with the file, field and line it is about."""


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them instead of ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True)


# Every registered source type (one module each under recon.sources), told apart by ``type``.
SOURCE_TYPES: dict[str, type[SourceConfig]] = source_models()
Source = Annotated[Union[tuple(SOURCE_TYPES.values())], Field(discriminator="type")]  # noqa: UP007


class Match(_Strict):
    """How records of the two sources are compared."""

    amount_tolerance: Decimal = Decimal("0")

    @field_validator("amount_tolerance", mode="before")
    @classmethod
    def _no_float_tolerance(cls, value: object) -> object:
        # YAML reads 0.1 as a float; go through its text so the tolerance stays exact.
        return str(value) if isinstance(value, float) else value

    @field_validator("amount_tolerance")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("must be zero or more")
        return value


class SlackAlert(_Strict):
    connection: str
    notify_on_success: bool = False


class PagerDutyAlert(_Strict):
    connection: str
    severity: Literal["critical", "error", "warning", "info"] = "error"
    # Page only when the gross discrepancy reaches this amount (major units, any currency).
    min_discrepancy_amount: Decimal = Decimal("0")


class Alerts(_Strict):
    slack: SlackAlert | None = None
    pagerduty: PagerDutyAlert | None = None
    max_breaks_listed: Annotated[int, Field(ge=0, le=50)] = 10


class Spec(_Strict):
    """One reconciliation: two sources, how to match them, when to run and whom to tell."""

    name: Annotated[str, Field(pattern=NAME)]
    description: str
    owner: str
    schedule: str
    tags: list[str] = []
    retries: Annotated[int, Field(ge=0)] = 2
    retry_delay_seconds: Annotated[int, Field(ge=0)] = 60
    warehouse_connection: str = "recon_warehouse"
    # Per-record data (staging, record matches) of runs older than this is dropped; results are kept.
    retention_days: Annotated[int, Field(ge=1)] = 400
    sources: Annotated[list[Source], Field(min_length=2, max_length=2)]
    match: Match = Match()
    alerts: Alerts = Alerts()

    # A field validator (not a model one) so the error is located at 'sources' and gets its line.
    @field_validator("sources")
    @classmethod
    def _source_names_unique(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return sources

    @property
    def dag_id(self) -> str:
        return f"recon_{self.name}"

    @property
    def left(self) -> SourceConfig:
        return self.sources[0]

    @property
    def right(self) -> SourceConfig:
        return self.sources[1]

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        names = sorted(source.name for source in self.sources)
        raise ValueError(f"spec {self.name!r} has no source {name!r}; it has {names}")


def load_spec(path: Path | str) -> Spec:
    """Read and validate one spec file; raise ``SpecError`` naming the file, field and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping, got {type(document).__name__}")
    try:
        spec = Spec.model_validate(document)
    except ValidationError as exc:
        lines = _field_lines(text)
        problems = [_describe(error, lines) for error in exc.errors()]
        raise SpecError(f"{path}: invalid spec:\n  " + "\n  ".join(problems)) from None
    if spec.name != path.stem:
        line = _field_lines(text).get(("name",))
        where = f" (line {line})" if line else ""
        raise SpecError(
            f"{path}: field 'name'{where} is {spec.name!r} but must equal the file name {path.stem!r}"
        )
    return spec


def load_specs(directory: Path | str) -> list[Spec]:
    """Every ``*.yml`` spec in ``directory``, sorted by name."""
    return [load_spec(path) for path in sorted(Path(directory).glob("*.yml"))]


def _describe(error: dict, lines: dict[tuple[str, ...], int]) -> str:
    location = tuple(str(part) for part in error["loc"])
    # Discriminated unions put the tag in the location ("sources.1.sftp_csv.path"): drop it.
    location = tuple(part for part in location if part not in SOURCE_TYPES)
    field = ".".join(location) or "(top level)"
    line = _nearest_line(location, lines)
    where = f" (line {line})" if line else ""
    return f"field '{field}'{where}: {error['msg']}"


def _nearest_line(location: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    # A missing field has no line of its own: point at the nearest enclosing one that exists.
    for size in range(len(location), -1, -1):
        if location[:size] in lines:
            return lines[location[:size]]
    return None


def _field_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in the YAML text to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, str(index)))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines

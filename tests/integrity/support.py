"""What the integrity tests share: a spec with rules and references, and finding one rule's result."""

from __future__ import annotations

from typing import Any

from recon.integrity.validate import CheckResult
from recon.spec import Spec
from tests.dbt.harness import make_spec


def rules_spec(name: str, rules: dict[str, Any], references: tuple[str, ...] = ()) -> Spec:
    """``left`` reconciled against ``right``, plus reference sources, with the given ``rules`` section."""
    base = make_spec(name, {}).model_dump(mode="json", exclude_none=True)
    source = base["sources"][0]
    return Spec.model_validate(
        {**base, "references": [{**source, "name": ref} for ref in references], "rules": rules}
    )


def spec_of(name: str, rules: dict[str, Any], right: dict[str, Any] | None = None, **settings: Any) -> Spec:
    """``left`` reconciled against ``right`` (with ``right``'s extra settings), with ``rules``."""
    base = make_spec(name, {}, **settings).model_dump(mode="json", exclude_none=True)
    left_source, right_source = base["sources"]
    return Spec.model_validate(
        {**base, "sources": [left_source, {**right_source, **(right or {})}], "rules": rules}
    )


def result(results: list[CheckResult], rule_name: str, source: str | None) -> CheckResult:
    """The one result of ``rule_name`` on ``source`` (None: a pair invariant)."""
    found = [r for r in results if r.check.rule.rule_name == rule_name and r.check.source == source]
    assert len(found) == 1, f"{len(found)} results of {rule_name} on {source}"
    return found[0]


def names(results: list[CheckResult], source: str | None) -> list[str]:
    """The rules checked on ``source``, in the order they ran."""
    return [r.check.rule.rule_name for r in results if r.check.source == source]

"""Every spec example in the README and docs/ validates against the real spec models.

What is checked: each fenced ```yaml (or ```yml) block of README.md and docs/**/*.md, and every file
under docs/examples/. A block is classified by these rules, in order:

1. **Not a spec**, skipped: its first line is the marker comment ``# not a spec``, or its top-level
   keys are another tool's (``OTHER_TOOLS``: docker compose ``services``, dbt ``models``, ...) and
   none is a spec key.
2. **A whole spec** (a mapping with ``name`` and ``sources``): validated as ``recon.spec.load_spec``
   validates a file.
3. **Spec sections** (a mapping whose keys are all top-level spec keys: ``reconcile``, ``rules``,
   ``references``, ``alerts``, ``corrections``, ``schedule``...): merged into a minimal spec whose
   sources are made up from the names the sections use (pairs, rules, corrections), then validated.
4. **Sources**: a list of sources (a ``sources:`` list), or one source (a mapping with ``type``):
   put into a minimal spec, with a made-up second source when the block has one.
5. **Part of a source** (source keys without ``type``, such as a field mapping or one type's extra
   keys): its first comment line names the source type(s) it belongs to (``# stripe_payouts only``,
   ``# rest, graphql and postgres sources``); merged into a minimal source of each, then as rule 4.

A block that fits none of them fails the test as unrecognised: no spec-looking block is skipped
silently. The test lists ``file:line`` of every invalid block with the model's errors.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from recon.spec import SOURCE_TYPES, Spec, SpecError, load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOT_A_SPEC = "# not a spec"
# Top-level keys of files other tools read (docker compose, dbt); never spec keys.
OTHER_TOOLS = frozenset({"services", "volumes", "networks", "models", "seeds", "macros", "exposures"})
SPEC_KEYS = frozenset(Spec.model_fields)
_FENCE = re.compile(r"^(\s*)```\s*([A-Za-z0-9_-]*)\s*$")
_TYPE_WORD = re.compile(r"[a-z][a-z0-9_]*")
_ATTRIBUTE = re.compile(r"attributes\.([A-Za-z0-9_]+)")
# A made-up source that maps every canonical field, for the names a section uses.
_FIELDS = {
    "record_key": "id",
    "amount": "amount",
    "currency": "currency",
    "occurred_at": "at",
    "status": "status",
    "customer_email": "email",
    "reference": "ref",
    "group_key": "grp",
}
_QUERY = "select * from t where at >= %(window_start)s and at < %(window_end)s"
# The keys each type needs besides name, type and connection, for a block that is part of a source.
_REQUIRED: dict[str, dict[str, Any]] = {
    "postgres": {"query": _QUERY, "fields": _FIELDS},
    "rest": {"endpoint": "/v1/items", "fields": _FIELDS},
    "graphql": {"root_field": "orders", "fields": _FIELDS},
    "sftp_csv": {"path": "/in/{date:%Y%m%d}.csv", "fields": dict(list(_FIELDS.items())[:4])},
}


@dataclass(frozen=True)
class Block:
    where: str  # file:line of the block's first line
    text: str


def yaml_blocks(path: Path) -> list[Block]:
    """The fenced yaml blocks of a markdown file, dedented (a block may sit in a list item)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    name = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
    while index < len(lines):
        opened = _FENCE.match(lines[index])
        if not opened:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith("```"):
            end += 1
        if opened.group(2).lower() in ("yaml", "yml"):
            text = textwrap.dedent("\n".join(lines[index + 1 : end]))
            blocks.append(Block(f"{name}:{index + 2}", text))
        index = end + 1
    return blocks


def problems(block: Block) -> list[str]:
    """Why the block is not a valid spec example; [] when it is one, or is rightly not a spec."""
    if block.text.lstrip().startswith(NOT_A_SPEC):
        return []
    try:
        document = yaml.safe_load(block.text)
    except yaml.YAMLError as exc:
        return [f"not valid YAML: {' '.join(str(exc).split())}"]
    kind, spec = classify(document, block.text)
    if kind == "other tool":
        return []
    if spec is None:
        return [
            f"unrecognised block ({kind}): not a spec, spec sections, sources or part of a source of a"
            f" named type; mark it '{NOT_A_SPEC}' if it is not about specs"
        ]
    try:
        Spec.model_validate(spec)
    except ValidationError as exc:
        return [f"{kind}: {'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors()]
    return []


def classify(document: Any, text: str) -> tuple[str, dict[str, Any] | None]:
    """The block's kind and the whole spec it is checked as (None when it is not a spec example)."""
    if isinstance(document, list):
        if document and all(isinstance(item, dict) and "type" in item for item in document):
            return "sources", _spec_with_sources(document)
        return "a list that is not of sources", None
    if not isinstance(document, dict):
        return f"a {type(document).__name__}", None
    keys = set(document)
    if keys & OTHER_TOOLS and not keys & SPEC_KEYS:
        return "other tool", None
    if {"name", "sources"} <= keys:
        return "spec", document
    if keys <= SPEC_KEYS:
        return "spec sections", _spec_with_sections(document, text)
    if "type" in document:
        return "source", _spec_with_sources([document])
    named = _types_named(text)
    if not named:
        return f"keys {sorted(keys)} and no source type named in its first comment", None
    # Part of a source of each named type: one spec with one such source per type.
    sources = [
        {
            "name": f"{kind}_part",
            "type": kind,
            "connection": f"{kind}_conn",
            **_REQUIRED.get(kind, {}),
            **document,
        }
        for kind in named
    ]
    return f"part of a {'/'.join(named)} source", _spec_with_sources(sources)


def _types_named(text: str) -> list[str]:
    for line in text.splitlines():
        if line.strip():
            if not line.strip().startswith("#"):
                return []
            return [word for word in _TYPE_WORD.findall(line) if word in SOURCE_TYPES]
    return []


def _base(**extra: Any) -> dict[str, Any]:
    return {
        "name": "docs_example",
        "description": "A docs example.",
        "owner": "docs",
        "schedule": "@daily",
    } | extra


def _made_up(name: str, attributes: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "postgres",
        "connection": f"{name}_db",
        "query": _QUERY,
        "fields": _FIELDS,
        "attributes": {attribute: attribute for attribute in attributes},
    }


def _spec_with_sources(sources: list[dict[str, Any]]) -> dict[str, Any]:
    names = [source.get("name") for source in sources]
    filler = [_made_up(f"other_{index}", []) for index in range(max(0, 2 - len(sources)))]
    every = [*sources, *filler]
    pairs = [{"left": every[0].get("name"), "right": every[1].get("name")}] if len(names) > 2 else []
    return _base(sources=every, **({"reconcile": {"pairs": pairs}} if pairs else {}))


def _spec_with_sections(sections: dict[str, Any], text: str) -> dict[str, Any]:
    defined = {source.get("name") for source in sections.get("references", []) if isinstance(source, dict)}
    used = [name for name in _source_names(sections) if name not in defined]
    used = list(dict.fromkeys(used))  # first use first, once each
    used += [f"other_{index}" for index in range(max(0, 2 - len(used)))]
    attributes = sorted(set(_ATTRIBUTE.findall(text)))
    own = sections.get("sources")
    if isinstance(own, list):  # a block showing one source under `sources:`: a spec needs two
        filler = [_made_up(f"other_{index}", attributes) for index in range(max(0, 2 - len(own)))]
        sections = {**sections, "sources": [*own, *filler]}
    return _base(sources=[_made_up(name, attributes) for name in used]) | sections


def _source_names(sections: dict[str, Any]) -> list[str]:
    """The source names a spec's sections refer to, in the order they appear."""
    names: list[str] = []
    reconcile = sections.get("reconcile") or {}
    for pair in [*reconcile.get("pairs", []), *reconcile.get("balances", [])]:
        names += [pair.get("left"), pair.get("right")]
    names += [rule.get("source") for rule in reconcile.get("stuck", [])]
    for check in (sections.get("rules") or {}).get("checks", []):
        names += check.get("sources") or []
        names += [
            check[part].get("source") for part in ("reference", "lines") if isinstance(check.get(part), dict)
        ]
    names.append((sections.get("corrections") or {}).get("source"))
    return [name for name in names if isinstance(name, str)]


def markdown_files() -> list[Path]:
    return [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]


def test_every_yaml_example_in_the_readme_and_docs_is_a_valid_spec_or_section() -> None:
    blocks = [block for path in markdown_files() for block in yaml_blocks(path)]
    invalid = {block.where: found for block in blocks if (found := problems(block))}

    assert len(blocks) >= 15, "the docs' yaml blocks were not found: did the fence syntax change?"
    assert not invalid, "invalid spec examples in the docs:\n" + "\n".join(
        f"{where}: {problem}" for where, found in invalid.items() for problem in found
    )


@pytest.mark.parametrize("path", sorted((PROJECT_ROOT / "docs" / "examples").glob("*")), ids=lambda p: p.name)
def test_every_file_in_docs_examples_is_a_spec_that_loads(path: Path) -> None:
    try:
        spec = load_spec(path)
    except SpecError as exc:
        pytest.fail(str(exc))

    assert spec.name == path.stem


# The checker itself: it must fail on what is wrong, or the test above proves nothing.


def checked(markdown: str, tmp_path: Path) -> dict[str, list[str]]:
    path = tmp_path / "doc.md"
    path.write_text(markdown, encoding="utf-8")
    return {block.where.rsplit(":", 1)[1]: problems(block) for block in yaml_blocks(path)}


def test_a_section_with_a_typo_is_reported_with_the_field(tmp_path: Path) -> None:
    found = checked("Text.\n\n```yaml\nreconcile:\n  tolerance_percnt: 1\n```\n", tmp_path)

    assert list(found) == ["4"]
    assert found["4"] == ["spec sections: reconcile.tolerance_percnt: Extra inputs are not permitted"]


def test_sections_are_checked_together_in_a_spec_so_cross_references_count(tmp_path: Path) -> None:
    markdown = (
        "```yaml\nreferences:\n  - {name: events, type: postgres, connection: db,"
        " query: select id from events, fields: {record_key: id}}\n"
        "rules:\n  checks:\n    - {rule: no_duplicates, sources: [events], severity: high}\n```\n"
    )

    (found,) = checked(markdown, tmp_path).values()

    assert found == [
        "spec sections: (top level): Value error, rules.checks.0.sources: no_duplicates reads the"
        " matching, so only reconciled sources"
    ]


def test_a_windowed_source_without_occurred_at_is_reported(tmp_path: Path) -> None:
    markdown = (
        "```yaml\n- name: app\n  type: postgres\n  connection: app_db\n"
        "  query: select id, amount, currency from t where at >= %(window_start)s and at < %(window_end)s\n"
        "  fields: {record_key: id, amount: amount, currency: currency}\n```\n"
    )

    (found,) = checked(markdown, tmp_path).values()

    assert len(found) == 1 and found[0].startswith(
        "sources: sources.0.postgres: Value error, fields.occurred_at:"
    )


def test_part_of_a_source_is_checked_against_the_type_its_comment_names(tmp_path: Path) -> None:
    markdown = "```yaml\n  # stripe_payouts only\n  window_by: departure\n```\n"

    (found,) = checked(markdown, tmp_path).values()

    assert len(found) == 1 and "window_by" in found[0] and "part of a stripe_payouts source" in found[0]


def test_an_unrecognised_block_fails_and_only_marked_or_other_tools_blocks_are_skipped(
    tmp_path: Path,
) -> None:
    markdown = (
        "```yaml\nfetch_size: 10\n```\n\n"
        "```yaml\n# not a spec\nfetch_size: 10\n```\n\n"
        "```yaml\nservices:\n  airflow-worker: {image: x}\n```\n"
    )

    found = checked(markdown, tmp_path)

    assert list(found) == ["2", "6", "11"]
    assert found["2"] and found["2"][0].startswith("unrecognised block")
    assert found["6"] == [] and found["11"] == []

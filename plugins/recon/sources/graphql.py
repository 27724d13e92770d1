"""GraphQL APIs with Relay pagination (an order-management system, a shop): one POST per page.

The query is built from the spec's field mapping, so only the fields that are mapped are requested:
``total.amount`` and ``total.currency`` become ``total { amount currency }`` inside
``edges { node { ... } }`` (or ``nodes { ... }``), next to ``pageInfo { hasNextPage endCursor }``.
Spec arguments travel as typed variables, never spliced into the query text, so a value can hold any
character and the server checks its type. A spec may instead give the whole ``query``; it is then
checked at load for ``$first``, ``$after`` and ``pageInfo { hasNextPage endCursor }``.

Why the shared ``recon.sources.http`` client and not the ``gql`` library: a Relay page is one POST of
``{query, variables}`` and a JSON answer, which the REST sources' httpx client already sends with the
project's one retry policy (Retry-After, 5xx, timeouts; 401/403 fail at once) and Decimal-exact JSON.
``gql`` would add graphql-core, its own transports (requests, aiohttp, httpx, websockets) and its own
``backoff`` retries, a second policy to keep in step, for local validation and subscriptions we do not use.

Errors in a response fail the extract with the server's messages and paths. An error raised before
execution (no ``data`` in the answer: parse, validation, variable types) or coded as bad input would fail
the same way again, so it is ``SourceRejected``; other execution errors may be transient and are retried.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.base import RecordSource
from recon.sources.http import HttpSettings, WindowZone, client_for
from recon.sources.mapping import RecordMapping
from recon.sources.registry import register
from recon.window import RunWindow

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
_RESERVED = ("first", "after")  # set by the source from page_size and the cursor
# Codes (Apollo's and graphql-js's conventions) for errors that the same request would get again.
_PERMANENT_CODES = frozenset(
    {"GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN"}
)
_ERRORS_SHOWN = 5


@register
class GraphQLSource(RecordSource, RecordMapping, HttpSettings, WindowZone):
    """A Relay connection read page by page; every node is mapped with the spec's ``fields``."""

    type: Literal["graphql"]
    endpoint: str = "/graphql"
    root_field: str  # the connection field; dotted to reach a nested one: ``shop.orders``
    arguments: dict[str, Any] = {}  # more arguments of the connection field, with window placeholders
    argument_types: dict[str, str] = {}  # GraphQL type of each argument's variable: ``DateTime!``
    page_size: Annotated[int, Field(ge=1)] = 100  # sent as ``first``
    cursor_type: str = "String"  # the type of ``after`` in the API's schema
    items: Literal["edges", "nodes"] = "edges"  # ``edges { node { ... } }`` or ``nodes { ... }``
    # A node whose occurred_at is outside the window: quarantined (the API ignored the filter) or kept.
    out_of_window: Literal["quarantine", "keep"] = "quarantine"
    query: str | None = None  # the whole query instead of one built from the mapping

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_a_path(cls, value: str) -> str:
        if not value.startswith("/") or "://" in value:
            raise ValueError(f"endpoint {value!r} must be a path like /graphql; the host is the connection's")
        return value

    @field_validator("root_field")
    @classmethod
    def _root_field_names(cls, value: str) -> str:
        for part in value.split("."):
            if not _NAME.match(part):
                raise ValueError(f"root_field {value!r}: {part!r} is not a GraphQL name")
        return value

    @field_validator("arguments")
    @classmethod
    def _argument_names_and_placeholders(cls, value: dict[str, Any]) -> dict[str, Any]:
        sample = RunWindow("check", datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))
        for name, argument in value.items():
            if not _NAME.match(name):
                raise ValueError(f"argument {name!r} is not a GraphQL name")
            if name in _RESERVED:
                raise ValueError(f"argument {name!r} is set by the source (page_size and the cursor)")
            try:
                _with_window(argument, sample)
            except (ValueError, IndexError) as exc:
                raise ValueError(f"argument {name!r}: {exc}") from None
        return value

    @field_validator("argument_types", "cursor_type")
    @classmethod
    def _type_syntax(cls, value: Any) -> Any:
        for name, text in value.items() if isinstance(value, dict) else [("after", value)]:
            if not _is_type(text):
                raise ValueError(
                    f"{text!r} (for {name!r}) is not a GraphQL type like String, DateTime!, [ID!]"
                )
        return value

    @model_validator(mode="after")
    def _window_zone_fits_arguments(self) -> GraphQLSource:
        def texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
            if isinstance(value, str):
                yield where, value
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    yield from texts(item, f"{where}.{index}")
            elif isinstance(value, dict):
                for key, item in value.items():
                    yield from texts(item, f"{where}.{key}")

        for where, text in texts(self.arguments, "arguments"):
            problem = self.utc_literal_problem(where, text)
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _query_shape(self) -> GraphQLSource:
        if self.query is None:
            missing = sorted(set(self.arguments) - set(self.argument_types))
            extra = sorted(set(self.argument_types) - set(self.arguments))
            if missing:
                raise ValueError(f"argument_types must give the GraphQL type of arguments {missing}")
            if extra:
                raise ValueError(f"argument_types names {extra}, which are not arguments")
            _selection_tree(self.mapped_paths())  # raises on a path that cannot be selected
        else:
            _check_query(self.query, self.arguments, self.argument_types, self.items)
        return self

    def mapped_paths(self) -> list[str]:
        """Every dotted path the mapping reads from a node: fields, then attributes."""
        fields = [path for path in self.fields.model_dump().values() if path]
        return [*fields, *self.attributes.values()]

    def page_query(self) -> str:
        """The query text sent for every page (the spec's own, or one built from the mapping)."""
        return self.query if self.query is not None else build_query(self)

    def variables(self, window: RunWindow) -> dict[str, Any]:
        """The first page's variables: the arguments with the window filled in, ``first`` and ``after``."""
        filled = {name: _with_window(value, window, self) for name, value in self.arguments.items()}
        return {**filled, "first": self.page_size, "after": None}

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        return _records(self, window)


def build_query(source: GraphQLSource) -> str:
    """A query selecting exactly the mapped paths of each node, one Relay page at a time."""
    nodes = _render(_selection_tree(source.mapped_paths()))
    items = f"edges {{ node {{ {nodes} }} }}" if source.items == "edges" else f"nodes {{ {nodes} }}"
    names = list(source.arguments)
    declared = [
        "$first: Int!",
        f"$after: {source.cursor_type}",
        *(f"${n}: {source.argument_types[n]}" for n in names),
    ]
    passed = ["first: $first", "after: $after", *(f"{n}: ${n}" for n in names)]
    *parents, field = source.root_field.split(".")
    selection = f"{field}({', '.join(passed)}) {{ {items} pageInfo {{ hasNextPage endCursor }} }}"
    for parent in reversed(parents):
        selection = f"{parent} {{ {selection} }}"
    return f"query ReconPage({', '.join(declared)}) {{ {selection} }}"


def _records(source: GraphQLSource, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    query = source.page_query()
    variables = source.variables(window)
    with client_for(source.connection, source) as client:
        page = 0
        while True:
            page += 1
            origin = f"graphql://{source.connection}{source.endpoint}?page={page}"
            response = client.request("POST", source.endpoint, json={"query": query, "variables": variables})
            connection = _connection(source, response.body, page)
            yield from _items(source, connection, origin, window)
            cursor = _next_cursor(source, connection, page, variables["after"])
            if cursor is None:
                log.info("%s: read %d pages of %s", source.name, page, source.root_field)
                return
            variables["after"] = cursor


def _connection(source: GraphQLSource, body: Any, page: int) -> Mapping[str, Any]:
    """The connection object of one response, after failing on any ``errors`` it carries."""
    where = f"connection {source.connection!r}: {source.endpoint} page {page}"
    if not isinstance(body, Mapping):
        raise SourceRejected(f"{where}: the answer is not a GraphQL response object")
    errors = body.get("errors")
    if errors:
        errors = errors if isinstance(errors, list) else [errors]
        shown = "; ".join(_describe(error) for error in errors[:_ERRORS_SHOWN])
        more = f" (and {len(errors) - _ERRORS_SHOWN} more)" if len(errors) > _ERRORS_SHOWN else ""
        message = f"{where}: GraphQL errors: {shown}{more}"
        codes = {_code(error) for error in errors}
        if "data" not in body or codes & _PERMANENT_CODES:
            raise SourceRejected(message)
        raise SourceUnavailable(message)
    value: Any = body.get("data")
    walked = "data"
    for part in source.root_field.split("."):
        if not isinstance(value, Mapping) or value.get(part) is None:
            found = sorted(value) if isinstance(value, Mapping) else value
            raise SourceRejected(
                f"{where}: the response has no {source.root_field!r} (root_field): "
                f"{walked}.{part} is missing or null; {walked} holds {found!r}"
            )
        value, walked = value[part], f"{walked}.{part}"
    if not isinstance(value, Mapping):
        raise SourceRejected(f"{where}: {walked} is not a connection object")
    return value


def _items(
    source: GraphQLSource, connection: Mapping[str, Any], origin: str, window: RunWindow
) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    listed = connection.get(source.items)
    if not isinstance(listed, list):
        raise SourceRejected(
            f"connection {source.connection!r}: {origin}: "
            f"data.{source.root_field}.{source.items} is not a list"
        )
    for position, entry in enumerate(listed, start=1):
        node = entry.get("node") if source.items == "edges" and isinstance(entry, Mapping) else entry
        if isinstance(node, Mapping):
            yield _in_window(source, source.map_item(node, origin, position), node, window)
        else:
            # An edge without a node is still something the API listed: keep it where it can be seen.
            what = "edge has no node object" if source.items == "edges" else "node is not an object"
            raw = dict(entry) if isinstance(entry, Mapping) else json.dumps(entry, default=str)
            yield QuarantinedRecord(reason=what, raw=raw, origin=origin, origin_line=position)


def _in_window(
    source: GraphQLSource, record: CanonicalRecord | QuarantinedRecord, node: Mapping, window: RunWindow
) -> CanonicalRecord | QuarantinedRecord:
    # An API whose upper bound is inclusive (or that ignores a filter) would otherwise load the same
    # record into two windows; the window is half-open whatever the API's argument means.
    if source.out_of_window == "keep" or not isinstance(record, CanonicalRecord):
        return record
    if window.contains(record.occurred_at):
        return record
    return QuarantinedRecord(
        reason=f"occurred_at {record.occurred_at.isoformat()} is outside the window "
        f"[{window.start.isoformat()}, {window.end.isoformat()})",
        raw=dict(node),
        origin=record.origin,
        origin_line=record.origin_line,
        record_key=record.record_key,
    )


def _next_cursor(
    source: GraphQLSource, connection: Mapping[str, Any], page: int, previous: str | None
) -> str | None:
    where = f"connection {source.connection!r}: {source.endpoint} page {page}"
    info = connection.get("pageInfo")
    if not isinstance(info, Mapping) or not isinstance(info.get("hasNextPage"), bool):
        raise SourceRejected(f"{where}: data.{source.root_field}.pageInfo.hasNextPage is missing")
    if not info["hasNextPage"]:
        return None
    cursor = info.get("endCursor")
    if not cursor:
        raise SourceRejected(f"{where}: pageInfo says hasNextPage but gives no endCursor")
    if cursor == previous:
        raise SourceRejected(f"{where}: endCursor {cursor!r} repeats the previous page's; paging would loop")
    return str(cursor)


def _describe(error: Any) -> str:
    if not isinstance(error, Mapping):
        return str(error)[:300]
    text = str(error.get("message", "(no message)"))[:300]
    path = error.get("path")
    if isinstance(path, list) and path:
        text += f" at {'.'.join(str(part) for part in path)}"
    locations = error.get("locations")
    if isinstance(locations, list) and locations and isinstance(locations[0], Mapping):
        text += f" (line {locations[0].get('line')}, column {locations[0].get('column')})"
    return text


def _code(error: Any) -> str | None:
    extensions = error.get("extensions") if isinstance(error, Mapping) else None
    return extensions.get("code") if isinstance(extensions, Mapping) else None


def _selection_tree(paths: list[str]) -> dict[str, Any]:
    """Nested dict of field names (leaves map to None); list indices in paths select nothing."""
    tree: dict[str, Any] = {}
    for path in paths:
        parts = [part for part in path.split(".") if not part.lstrip("-").isdigit()]
        bad = [part for part in parts if not _NAME.match(part)]
        if not parts or bad:
            raise ValueError(f"mapped path {path!r} is not a dotted path of GraphQL field names")
        level = tree
        for depth, part in enumerate(parts):
            leaf = depth == len(parts) - 1
            current = level.get(part, _ABSENT)
            if (leaf and isinstance(current, dict)) or (not leaf and current is None):
                both = ".".join(parts[: depth + 1])
                raise ValueError(f"mapped path {path!r}: {both!r} is mapped both as a value and as an object")
            if leaf:
                level[part] = None
            else:
                level = level.setdefault(part, {})
    return tree


_ABSENT = object()


def _render(tree: dict[str, Any]) -> str:
    return " ".join(name if sub is None else f"{name} {{ {_render(sub)} }}" for name, sub in tree.items())


def _is_type(text: str) -> bool:
    """``Name``, ``Name!``, ``[T]`` or ``[T]!`` for a type ``T`` of the same shape."""
    text = text.strip()
    if text.endswith("!"):
        text = text[:-1].rstrip()
        if text.endswith("!"):
            return False
    if text.startswith("[") and text.endswith("]"):
        return _is_type(text[1:-1])
    return bool(_NAME.match(text))


def _check_query(query: str, arguments: Mapping[str, Any], types: Mapping[str, str], items: str) -> None:
    text = re.sub(r"#[^\n\r]*", "", query)  # comments may mention anything
    if types:
        raise ValueError("argument_types is for built queries; a given query declares its variables itself")
    if text.count("{") != text.count("}") or "{" not in text:
        raise ValueError("query has unbalanced braces or no selection")
    needed = [*_RESERVED, *arguments]
    undeclared = [name for name in needed if not re.search(rf"\${name}\s*:", text)]
    if undeclared:
        raise ValueError(
            f"query must declare the variables {['$' + n for n in undeclared]} (e.g. $first: Int!)"
        )
    info = re.search(r"\bpageInfo\s*\{([^{}]*)\}", text)
    if not info or not re.search(r"\bhasNextPage\b", info[1]) or not re.search(r"\bendCursor\b", info[1]):
        raise ValueError("query must select pageInfo { hasNextPage endCursor } on the connection")
    if not re.search(r"\bedges\b[^{]*\{[^{]*\bnode\b" if items == "edges" else r"\bnodes\b", text):
        wanted = "edges { node { ... } }" if items == "edges" else "nodes { ... }"
        raise ValueError(f"query must select {wanted} (items: {items})")


PLACEHOLDERS = ("window_start", "window_end", "window_start_epoch", "window_end_epoch")


class _WindowFormatter(string.Formatter):
    """Window placeholders (``{window_start:%Y-%m-%d}``); no other names, attributes or indices."""

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        if field_name not in PLACEHOLDERS:
            raise ValueError(f"unknown placeholder {{{field_name}}}; use {', '.join(PLACEHOLDERS)}")
        return kwargs[field_name], field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        # Without a format, ISO 8601 with offset: what a GraphQL DateTime scalar expects.
        if isinstance(value, datetime) and not format_spec:
            return value.isoformat()
        return format(value, format_spec)


def _with_window(value: Any, window: RunWindow, zone: WindowZone | None = None) -> Any:
    """``value`` with window placeholders filled in, in strings at any depth of lists and objects.

    A value that is exactly ``{window_start_epoch}`` or ``{window_end_epoch}`` becomes an integer, so
    it can be passed as an ``Int`` variable.
    """
    # The bounds in the source's window_timezone (UTC without a source); epoch seconds have no zone.
    local = zone.window_bound if zone is not None else (lambda moment: moment.astimezone(UTC))
    bounds = {
        "window_start": local(window.start),
        "window_end": local(window.end),
        "window_start_epoch": int(window.start.timestamp()),
        "window_end_epoch": int(window.end.timestamp()),
    }
    if isinstance(value, str):
        whole = value.strip()
        if whole.startswith("{") and whole.endswith("}") and whole[1:-1] in PLACEHOLDERS[2:]:
            return bounds[whole[1:-1]]
        return _WindowFormatter().format(value, **bounds)
    if isinstance(value, list):
        return [_with_window(item, window, zone) for item in value]
    if isinstance(value, dict):
        return {key: _with_window(item, window, zone) for key, item in value.items()}
    return value

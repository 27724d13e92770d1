"""A generic REST/JSON source: one endpoint, a time window, one of four pagination styles, field mapping.

The spec says where the list of items is in a response (``records_path``), how to ask for the next
page (``pagination``) and which item paths become canonical fields (``fields``, from
``RecordMapping``). Pages are fetched and mapped one at a time, so memory holds one page, and each
record's origin names the connection, endpoint and page (``rest://tix/v1/sales?page=3``) with its
position in that page as ``origin_line``.

Stop rules, per style: ``page``/``offset`` stop at an empty or short page (fewer than ``page_size``
items: so ``page_size`` must not exceed what the API really serves per page); ``cursor`` stops when
``has_more_path`` is false, the next cursor is missing or the page is empty; ``link`` stops when the
``Link`` header has no ``rel="next"`` or the page is empty. A cursor or link seen twice is an error,
not an endless loop.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urljoin

from pydantic import Field, field_validator, model_validator

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected
from recon.sources.base import RecordSource, StrictModel
from recon.sources.http import HttpSettings, WindowZone, client_for
from recon.sources.mapping import RecordMapping, lookup
from recon.sources.registry import register
from recon.window import RunWindow

if TYPE_CHECKING:
    from recon.sources.http import JsonClient, JsonResponse

Style = Literal["none", "page", "offset", "cursor", "link"]
PLACEHOLDERS = ("window_start", "window_end", "window_start_epoch", "window_end_epoch")
_STYLE_OPTIONS: dict[str, frozenset[str]] = {
    "none": frozenset(),
    "page": frozenset({"page_param", "start_page", "size_param", "page_size"}),
    "offset": frozenset({"offset_param", "limit_param", "page_size"}),
    "cursor": frozenset({"cursor_param", "cursor_path", "has_more_path", "size_param", "page_size"}),
    "link": frozenset({"size_param", "page_size"}),
}
_ABSENT = lookup({}, "absent")  # lookup's own marker for "no such path"
_CURSOR_IN_ORIGIN = 64  # cursors can be long opaque tokens; the origin keeps their start


class Pagination(StrictModel):
    """How to ask for the next page; each style takes only its own options (see ``_STYLE_OPTIONS``)."""

    style: Style = "none"
    page_size: Annotated[int, Field(ge=1)] = 100
    # page: page number in page_param, counting from start_page; page size in size_param (per_page).
    page_param: str = "page"
    start_page: Annotated[int, Field(ge=0)] = 1
    # page: default per_page. cursor and link: the page size is sent only when size_param is set.
    size_param: str | None = None
    # offset: items to skip in offset_param, page size in limit_param.
    offset_param: str = "offset"
    limit_param: str = "limit"
    # cursor: the continuation token at cursor_path in a page is sent back in cursor_param.
    cursor_param: str = "cursor"
    cursor_path: str | None = None
    has_more_path: str | None = None

    @model_validator(mode="after")
    def _options_fit_the_style(self) -> Pagination:
        allowed = _STYLE_OPTIONS[self.style]
        stray = sorted(self.model_fields_set - allowed - {"style"})
        if stray:
            takes = ", ".join(sorted(allowed)) or "no options"
            verb = "does" if len(stray) == 1 else "do"
            raise ValueError(
                f"{', '.join(stray)} {verb} not apply to pagination style {self.style!r}; it takes {takes}"
            )
        if self.style == "cursor" and not self.cursor_path:
            raise ValueError(
                "pagination style 'cursor' needs cursor_path: where the next cursor is in a page"
            )
        return self

    @property
    def page_size_param(self) -> str | None:
        if self.style == "page":
            return self.size_param or "per_page"
        return self.limit_param if self.style == "offset" else self.size_param


@register
class RestSource(RecordSource, RecordMapping, HttpSettings, WindowZone):
    """Items of one REST endpoint for the run window; see the module docstring for pagination."""

    type: Literal["rest"]
    endpoint: str
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str | int | bool] = {}  # static query parameters
    body: dict[str, Any] | None = None  # static JSON body (POST only)
    # Parameters from the run window, e.g. {from: "{window_start:%Y-%m-%dT%H:%M:%SZ}"}, written in
    # ``window_timezone`` (default UTC).
    window_params: dict[str, str] = {}
    # Where window and pagination parameters go: the query (default for GET) or the JSON body (POST).
    params_in: Literal["query", "body"] | None = None
    records_path: str = ""  # dotted path to the list of items; empty: the body is the list
    pagination: Pagination = Pagination()
    # An item whose occurred_at falls outside the window: quarantined (the API ignored the filter) or kept.
    out_of_window: Literal["quarantine", "keep"] = "quarantine"

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("endpoint")
    @classmethod
    def _a_path(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("endpoint is a path below the connection's host (its base URL), not a URL")
        return value

    @field_validator("window_params")
    @classmethod
    def _templates(cls, value: dict[str, str]) -> dict[str, str]:
        for name, template in value.items():
            try:
                template.format(**_window_values(_SAMPLE))
            except KeyError as exc:
                raise ValueError(
                    f"{name}: unknown placeholder {{{exc.args[0]}}}; use {', '.join(PLACEHOLDERS)}"
                ) from None
            except (ValueError, IndexError, AttributeError) as exc:
                raise ValueError(f"{name}: {template!r} cannot be formatted with the window: {exc}") from None
        return value

    @model_validator(mode="after")
    def _window_zone_fits_templates(self) -> RestSource:
        for name, template in self.window_params.items():
            problem = self.utc_literal_problem(f"window_params.{name}", template)
            if problem:
                raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _body_only_with_post(self) -> RestSource:
        if self.method != "POST" and (self.body is not None or self.params_in == "body"):
            raise ValueError("body and params_in: body need method: POST")
        return self

    @property
    def params_in_body(self) -> bool:
        return self.params_in == "body" or (self.params_in is None and self.method == "POST")

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        with client_for(self.connection, self) as client:
            for origin, items in _pages(self, client, window):
                for position, item in enumerate(items, start=1):
                    yield self._record(item, origin, position, window)

    def _record(
        self, item: Any, origin: str, position: int, window: RunWindow
    ) -> CanonicalRecord | QuarantinedRecord:
        if not isinstance(item, Mapping):
            reason = f"item is a JSON {type(item).__name__}, not an object"
            return QuarantinedRecord(reason, json.dumps(item, default=str), origin, position)
        record = self.map_item(item, origin, position)
        if (
            isinstance(record, CanonicalRecord)
            and self.out_of_window == "quarantine"
            and not window.contains(record.occurred_at)
        ):
            return QuarantinedRecord(
                reason=f"occurred_at {record.occurred_at.isoformat()} is outside the window "
                f"[{window.start.isoformat()}, {window.end.isoformat()})",
                raw=dict(item),
                origin=origin,
                origin_line=position,
                record_key=record.record_key,
            )
        return record


def _pages(source: RestSource, client: JsonClient, window: RunWindow) -> Iterator[tuple[str, list]]:
    """(origin, items) of each page, in order, until the style's stop rule says the end."""
    paging = source.pagination
    style = paging.style
    values = _window_values(window, source)
    windowed = {name: template.format(**values) for name, template in source.window_params.items()}
    where = f"rest://{source.connection}{'' if source.endpoint.startswith('/') else '/'}{source.endpoint}"
    url: str = source.endpoint
    page_number, offset, cursor = 0, 0, None
    seen: set[str] = set()
    while True:
        page_number += 1
        turn: dict[str, Any] = {}
        if style == "page":
            turn[paging.page_param] = paging.start_page + page_number - 1
        elif style == "offset":
            turn[paging.offset_param] = offset
        elif style == "cursor" and cursor is not None:
            turn[paging.cursor_param] = cursor
        if paging.page_size_param and (style != "link" or page_number == 1):
            turn[paging.page_size_param] = paging.page_size
        first_link_page = style != "link" or page_number == 1
        response = _fetch(source, client, url, {**windowed, **turn} if first_link_page else {})
        origin = f"{where}?page={page_number}"
        if style == "offset":
            origin += f"&offset={offset}"
        elif style == "cursor" and cursor is not None:
            origin += f"&cursor={cursor[:_CURSOR_IN_ORIGIN]}"
        items = _items(source, response, page_number)
        yield origin, items
        if not items or style == "none":
            return
        if style in ("page", "offset"):
            if len(items) < paging.page_size:
                return
            offset += len(items)
            continue
        if style == "cursor":
            cursor = _next_cursor(source, response, page_number)
            following = cursor
        else:
            following = _next_link(response)
            url = following or url
        if following is None:
            return
        if following in seen:
            raise SourceRejected(
                f"connection {source.connection!r}: {source.endpoint} page {page_number} points to a "
                f"{style} already followed; stopping instead of looping"
            )
        seen.add(following)


def _fetch(source: RestSource, client: JsonClient, url: str, extra: dict[str, Any]) -> JsonResponse:
    query: dict[str, Any] = dict(source.params) if url == source.endpoint else {}
    body = copy.deepcopy(source.body) if source.method == "POST" else None
    if source.params_in_body:
        body = body or {}
        for name, value in extra.items():
            _put(body, name, value)
    else:
        query.update(extra)
    return client.request(source.method, url, params=query or None, json=body)


def _items(source: RestSource, response: JsonResponse, page_number: int) -> list:
    items = lookup(response.body, source.records_path) if source.records_path else response.body
    if not isinstance(items, list):
        found = _describe(items)
        where = f"records_path {source.records_path!r}" if source.records_path else "the top of the body"
        raise SourceRejected(
            f"connection {source.connection!r}: {source.endpoint} page {page_number}: "
            f"expected a list of items at {where}, found {found}"
        )
    return items


def _next_cursor(source: RestSource, response: JsonResponse, page_number: int) -> str | None:
    paging = source.pagination
    if paging.has_more_path:
        more = lookup(response.body, paging.has_more_path)
        if isinstance(more, str):
            more = more.strip().lower() not in ("false", "0", "")
        if more is _ABSENT or not isinstance(more, bool | int):
            raise SourceRejected(
                f"connection {source.connection!r}: {source.endpoint} page {page_number}: "
                f"has_more_path {paging.has_more_path!r} is {_describe(more)}, not true or false"
            )
        if not more:
            return None
    value = lookup(response.body, str(paging.cursor_path))
    if value is None or value is _ABSENT or isinstance(value, Mapping | list) or str(value) == "":
        return None
    return str(value)


def _next_link(response: JsonResponse) -> str | None:
    import httpx

    links = httpx.Response(200, headers=response.headers).links
    target = links.get("next", {}).get("url")
    return urljoin(response.url, target) if target else None


def _put(body: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``filter.from`` in a JSON body as ``{"filter": {"from": value}}``."""
    *parents, leaf = dotted.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SourceRejected(f"body field {part!r} is not an object, cannot set {dotted!r} in it")
    node[leaf] = value


def _describe(value: Any) -> str:
    if value is _ABSENT:
        return "nothing (no such path)"
    if isinstance(value, Mapping):
        keys = ", ".join(list(map(str, value))[:8])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(value).__name__} {str(value)[:60]!r}" if value is not None else "null"


class _Moment(datetime):
    """A window bound whose plain ``{window_start}`` formats as ISO 8601, not with a space."""

    def __format__(self, spec: str) -> str:
        return super().__format__(spec) if spec else self.isoformat()


def _window_values(window: RunWindow, zone: WindowZone | None = None) -> dict[str, Any]:
    """The placeholders of ``window_params``: the bounds in the source's ``window_timezone`` (UTC
    without a source) and as Unix seconds, which have no zone."""
    start, end = window.start, window.end
    local = zone.window_bound if zone is not None else (lambda moment: moment.astimezone(UTC))
    return {
        "window_start": _Moment.fromtimestamp(start.timestamp(), tz=local(start).tzinfo),
        "window_end": _Moment.fromtimestamp(end.timestamp(), tz=local(end).tzinfo),
        "window_start_epoch": int(start.timestamp()),
        "window_end_epoch": int(end.timestamp()),
    }


_SAMPLE = RunWindow("sample", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))

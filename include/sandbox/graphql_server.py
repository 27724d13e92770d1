"""A loopback GraphQL API of an order-management system: ``POST /graphql``, Relay-paginated orders.

Schema (SDL, for reading; the server checks queries against ``SCHEMA`` below)::

    type Query { orders(first: Int, after: String, createdFrom: DateTime, createdTo: DateTime):
                   OrderConnection!   shop: Shop! }
    type Shop { name: String!  orders(<same arguments>): OrderConnection! }
    type OrderConnection { edges: [OrderEdge!]!  nodes: [Order!]!  pageInfo: PageInfo!  totalCount: Int! }
    type OrderEdge { cursor: String!  node: Order! }
    type PageInfo { hasNextPage: Boolean!  hasPreviousPage: Boolean!  startCursor: String  endCursor: String }
    type Order { id: ID!  number: Int!  total: Money!  createdAt: DateTime!  status: String!
                 customer: Customer  channel: String!  lines: [OrderLine!]!
                 storeId: String  receiptNumber: String }   # null unless the order was placed in a store
    type Money { amount: Decimal!  currency: String }       # Decimal is sent as a string: "1.250"
    type Customer { email: String }      type OrderLine { sku: String!  quantity: Int! }

Orders are sorted by ``createdAt`` then ``id``; ``createdFrom`` is inclusive and ``createdTo`` exclusive
(a half-open window); ``first`` is 1..250 (default 50); cursors are opaque.

graphql-core is not installed here (checked with ``pip list``) and the project adds no dependency for a
test server, so this module holds a small strict parser and executor for the subset it serves: one
``query`` operation with typed variables, fields with aliases and arguments, literal and variable values.
Fragments, directives, mutations and block strings are refused with an error rather than half-handled.
Parse and validation errors come back as GraphQL-over-HTTP does for ``application/json``: HTTP 200 with
``errors`` and no ``data``; execution errors (a bad cursor) as ``errors`` with ``path`` and ``data: null``.
A wrong bearer token is HTTP 401. ``request_log`` keeps every request with the leaf paths it selected.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import datetime as dt
import functools
import hmac
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from include.sandbox._service import HttpService
from include.sandbox.faults import Faults

_PAGE_ARGS = {"first": "Int", "after": "String", "createdFrom": "DateTime", "createdTo": "DateTime"}
SCHEMA: dict[str, dict[str, tuple[str, dict[str, str]]]] = {
    "Query": {"orders": ("OrderConnection!", _PAGE_ARGS), "shop": ("Shop!", {})},
    "Shop": {"name": ("String!", {}), "orders": ("OrderConnection!", _PAGE_ARGS)},
    "OrderConnection": {
        "edges": ("[OrderEdge!]!", {}),
        "nodes": ("[Order!]!", {}),
        "pageInfo": ("PageInfo!", {}),
        "totalCount": ("Int!", {}),
    },
    "OrderEdge": {"cursor": ("String!", {}), "node": ("Order!", {})},
    "PageInfo": {
        "hasNextPage": ("Boolean!", {}),
        "hasPreviousPage": ("Boolean!", {}),
        "startCursor": ("String", {}),
        "endCursor": ("String", {}),
    },
    "Order": {
        "id": ("ID!", {}),
        "number": ("Int!", {}),
        "total": ("Money!", {}),
        "createdAt": ("DateTime!", {}),
        "status": ("String!", {}),
        "customer": ("Customer", {}),
        "channel": ("String!", {}),
        "lines": ("[OrderLine!]!", {}),
        # In-store orders only: the store and the number the store's till printed on the receipt.
        "storeId": ("String", {}),
        "receiptNumber": ("String", {}),
    },
    "Money": {"amount": ("Decimal!", {}), "currency": ("String", {})},
    "Customer": {"email": ("String", {})},
    "OrderLine": {"sku": ("String!", {}), "quantity": ("Int!", {})},
}
SCALARS = frozenset({"ID", "Int", "Float", "String", "Boolean", "DateTime", "Decimal"})
MAX_FIRST = 250
_INVALID = "GRAPHQL_VALIDATION_FAILED"
DEFAULT_FIRST = 50


class GraphQLError(Exception):
    """One entry of a response's ``errors``; ``code`` goes into ``extensions`` like Apollo's."""

    def __init__(self, message: str, loc: tuple[int, int] | None = None, code: str = "", path=None) -> None:
        super().__init__(message)
        self.entry: dict[str, Any] = {"message": message}
        if loc:
            self.entry["locations"] = [{"line": loc[0], "column": loc[1]}]
        if path is not None:
            self.entry["path"] = list(path)
        if code:
            self.entry["extensions"] = {"code": code}


class _RequestErrors(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


# --- the document: lexer and parser --------------------------------------------------------------

_TOKEN = re.compile(
    r"(?P<skip>[\s,\ufeff]+|#[^\n\r]*)|(?P<spread>\.\.\.)|(?P<punct>[!$():=@\[\]{}|&])"
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<number>-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<block>\"\"\")|(?P<string>\"(?:[^\"\\\n\r]|\\u[0-9A-Fa-f]{4}|\\[\"\\/bfnrt])*\")"
)


@dataclass(frozen=True)
class TypeRef:
    name: str
    non_null: bool = False
    of: TypeRef | None = None  # the item type of a list

    def __str__(self) -> str:
        inner = f"[{self.of}]" if self.of else self.name
        return inner + ("!" if self.non_null else "")


@dataclass(frozen=True)
class Var:
    name: str
    loc: tuple[int, int]


@dataclass
class Field:
    name: str
    alias: str | None
    args: dict[str, Any]
    selections: list[Field] | None
    loc: tuple[int, int]

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class Operation:
    name: str | None
    variables: dict[str, tuple[TypeRef, Any, tuple[int, int]]]  # name -> (type, default, loc)
    selections: list[Field]


def parse_type(text: str) -> TypeRef:
    """A type reference such as ``[OrderEdge!]!``; raises GraphQLError when it is not one."""
    parser = _Parser(text)
    ref = parser.type_ref()
    parser.expect_end()
    return ref


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, tuple[int, int]]] = []
        line, line_start = 1, 0
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            loc = (line, position - line_start + 1)
            if not match:
                raise GraphQLError(f"Syntax Error: Unexpected character {text[position]!r}.", loc)
            kind = match.lastgroup or ""
            if kind == "block":
                raise GraphQLError("Syntax Error: block strings are not supported by this sandbox.", loc)
            if kind != "skip":
                self.tokens.append((kind, match.group(), loc))
            for newline in re.finditer(r"\r\n|\n|\r", match.group()):
                line, line_start = line + 1, position + newline.end()
            position = match.end()
        self.index = 0
        self.end_loc = (line, position - line_start + 1)

    def peek(self) -> tuple[str, str, tuple[int, int]]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("eof", "<EOF>", self.end_loc)

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str, tuple[int, int]]:
        token = self.peek()
        if (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            wanted = f'"{value}"' if value else kind
            raise GraphQLError(f"Syntax Error: Expected {wanted}, found {token[1]!r}.", token[2])
        self.index += 1
        return token

    def skip(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] != "string":
            self.index += 1
            return True
        return False

    def expect_end(self) -> None:
        token = self.peek()
        if token[0] != "eof":
            raise GraphQLError(f"Syntax Error: Unexpected {token[1]!r}.", token[2])

    def document(self) -> Operation:
        operations = [self.operation()]
        while self.peek()[0] != "eof":
            operations.append(self.operation())
        if len(operations) > 1:
            raise GraphQLError("This sandbox serves one operation per document.", self.tokens[0][2])
        return operations[0]

    def operation(self) -> Operation:
        kind, value, loc = self.peek()
        if value == "{":
            return Operation(None, {}, self.selection_set())
        if kind != "name" or value not in ("query", "mutation", "subscription", "fragment"):
            raise GraphQLError(f"Syntax Error: Unexpected {value!r}.", loc)
        if value != "query":
            raise GraphQLError(f'This sandbox serves queries only, not "{value}".', loc)
        self.index += 1
        name = self.take(kind="name")[1] if self.peek()[0] == "name" else None
        variables: dict[str, tuple[TypeRef, Any, tuple[int, int]]] = {}
        if self.skip("("):
            while not self.skip(")"):
                var_loc = self.take("$")[2]
                var_name = self.take(kind="name")[1]
                self.take(":")
                ref = self.type_ref()
                default = self.value(constant=True) if self.skip("=") else None
                if var_name in variables:
                    raise GraphQLError(f'There can be only one variable named "${var_name}".', var_loc)
                variables[var_name] = (ref, default, var_loc)
        self._no_directives()
        return Operation(name, variables, self.selection_set())

    def type_ref(self) -> TypeRef:
        if self.skip("["):
            ref = TypeRef("", of=self.type_ref())
            self.take("]")
        else:
            ref = TypeRef(self.take(kind="name")[1])
        return TypeRef(ref.name, True, ref.of) if self.skip("!") else ref

    def selection_set(self) -> list[Field]:
        self.take("{")
        fields = [self.field()]
        while not self.skip("}"):
            fields.append(self.field())
        return fields

    def field(self) -> Field:
        if self.peek()[1] == "...":
            raise GraphQLError("Fragments are not supported by this sandbox.", self.peek()[2])
        _, name, loc = self.take(kind="name")
        alias = None
        if self.skip(":"):
            alias, name = name, self.take(kind="name")[1]
        args: dict[str, Any] = {}
        if self.skip("("):
            while not self.skip(")"):
                arg_name, arg_loc = self.take(kind="name")[1:]
                self.take(":")
                if arg_name in args:
                    raise GraphQLError(f'There can be only one argument named "{arg_name}".', arg_loc)
                args[arg_name] = self.value()
        self._no_directives()
        selections = self.selection_set() if self.peek()[1] == "{" else None
        return Field(name, alias, args, selections, loc)

    def value(self, constant: bool = False) -> Any:
        kind, text, loc = self.peek()
        if text == "$" and not constant:
            self.index += 1
            return Var(self.take(kind="name")[1], loc)
        self.index += 1
        if kind == "number":
            return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
        if kind == "string":
            return json.loads(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)  # enum values as text
        if text == "[":
            items = []
            while not self.skip("]"):
                items.append(self.value(constant))
            return items
        raise GraphQLError(f"Syntax Error: Unexpected {text!r}.", loc)

    def _no_directives(self) -> None:
        if self.peek()[1] == "@":
            raise GraphQLError("Directives are not supported by this sandbox.", self.peek()[2])


# --- validation: the whole document against the schema, before anything runs ----------------------


@functools.lru_cache(maxsize=256)  # looked up per field per order: parse each schema type once
def _field_type(type_name: str, field_name: str) -> tuple[TypeRef, dict[str, str]] | None:
    if field_name == "__typename":
        return TypeRef("String", True), {}
    found = SCHEMA.get(type_name, {}).get(field_name)
    return (parse_type(found[0]), found[1]) if found else None


def _named(ref: TypeRef) -> str:
    return ref.of and _named(ref.of) or ref.name


def validate(operation: Operation, variables: dict[str, Any]) -> dict[str, Any]:
    """Every error of the document at once (like graphql-js), then the coerced variable values."""
    errors: list[dict[str, Any]] = []
    used: set[str] = set()

    def invalid(message: str, loc: tuple[int, int]) -> None:
        errors.append(GraphQLError(message, loc, _INVALID).entry)

    def check(fields: list[Field], parent: str) -> None:
        seen: dict[str, str] = {}
        for f in fields:
            if seen.setdefault(f.key, f.name) != f.name:
                invalid(f'Fields "{f.key}" conflict: "{seen[f.key]}" and "{f.name}" are different.', f.loc)
            found = _field_type(parent, f.name)
            if found is None:
                invalid(f'Cannot query field "{f.name}" on type "{parent}".', f.loc)
                continue
            ref, arg_types = found
            for arg, value in f.args.items():
                if arg not in arg_types:
                    invalid(f'Unknown argument "{arg}" on field "{parent}.{f.name}".', f.loc)
                elif isinstance(value, Var):
                    used.add(value.name)
                    problem = _usage_problem(operation, value, parse_type(arg_types[arg]))
                    if problem:
                        invalid(problem, value.loc)
                else:
                    try:
                        _coerce(value, parse_type(arg_types[arg]), f'Argument "{arg}"')
                    except GraphQLError as exc:
                        invalid(str(exc), f.loc)
            named = _named(ref)
            if named in SCALARS and f.selections is not None:
                invalid(
                    f'Field "{f.name}" must not have a selection since type "{ref}" has no subfields.', f.loc
                )
            elif named not in SCALARS and f.selections is None:
                invalid(f'Field "{f.name}" of type "{ref}" must have a selection of subfields.', f.loc)
            elif f.selections is not None:
                check(f.selections, named)

    check(operation.selections, "Query")
    for name, (ref, _, loc) in operation.variables.items():
        if _named(ref) not in SCALARS:
            known = _named(ref) in SCHEMA
            invalid(f'Variable "${name}" ' + (f'cannot be non-input type "{ref}".' if known else
                    f'has unknown type "{_named(ref)}".'), loc)  # fmt: skip
        elif name not in used:
            invalid(f'Variable "${name}" is never used.', loc)
    if errors:
        raise _RequestErrors(errors)
    return _coerce_variables(operation, variables)


def _usage_problem(operation: Operation, var: Var, expected: TypeRef) -> str | None:
    declared = operation.variables.get(var.name)
    if declared is None:
        return f'Variable "${var.name}" is not defined.'
    ref, default = declared[0], declared[1]
    same = str(TypeRef(ref.name, False, ref.of)) == str(TypeRef(expected.name, False, expected.of))
    if not same or (expected.non_null and not ref.non_null and default is None):
        return f'Variable "${var.name}" of type "{ref}" used in position expecting type "{expected}".'
    return None


def _coerce_variables(operation: Operation, provided: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    errors = []
    for name, (ref, default, loc) in operation.variables.items():
        if name not in provided and default is not None:
            provided = {**provided, name: default}
        if name not in provided or provided[name] is None:
            if ref.non_null:
                errors.append(
                    GraphQLError(
                        f'Variable "${name}" of required type "{ref}" was not provided.',
                        loc,
                        "BAD_USER_INPUT",
                    ).entry
                )
            values[name] = None
            continue
        try:
            values[name] = _coerce(provided[name], ref, f'Variable "${name}"')
        except GraphQLError as exc:
            errors.append(GraphQLError(str(exc), loc, "BAD_USER_INPUT").entry)
    if errors:
        raise _RequestErrors(errors)
    return values


def _coerce(value: Any, ref: TypeRef, what: str) -> Any:
    if value is None:
        if ref.non_null:
            raise GraphQLError(f'{what} of non-null type "{ref}" must not be null.')
        return None
    if ref.of is not None:
        items = value if isinstance(value, list) else [value]
        return [_coerce(item, ref.of, what) for item in items]
    name, ok = ref.name, False
    if name == "Int":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    elif name in ("String", "Decimal"):
        ok = isinstance(value, str)
    elif name == "ID":
        ok = isinstance(value, str | int) and not isinstance(value, bool)
    elif name == "Boolean":
        ok = isinstance(value, bool)
    elif name == "Float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif name == "DateTime":
        moment = _datetime(value)
        if moment is not None:
            return moment
    if not ok:
        raise GraphQLError(f"{what} got invalid value {json.dumps(value)}; {name} cannot represent it.")
    return str(value) if name == "ID" else value


def _datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None  # an offset is required: no guessing zones


def selected_paths(operation: Operation) -> frozenset[str]:
    """Every leaf the query selects, as dotted field names without aliases: ``orders.pageInfo.endCursor``."""
    paths: set[str] = set()

    def walk(fields: list[Field], prefix: str) -> None:
        for f in fields:
            path = f"{prefix}{f.name}"
            if f.selections is None:
                paths.add(path)
            else:
                walk(f.selections, path + ".")

    walk(operation.selections, "")
    return frozenset(paths)


# --- the server --------------------------------------------------------------------------------


@dataclass
class GraphQLRequest:
    """One request as the server saw it; ``selected`` is empty when the query did not parse."""

    query: str | None
    variables: dict[str, Any]
    authorized: bool
    status: int | None = None
    selected: frozenset[str] = field(default_factory=frozenset)


class OrdersGraphQLSandbox(HttpService):
    """Serves ``orders`` (a list, or a lazy ``GeneratedOrders``) as a GraphQL API on loopback."""

    def __init__(
        self,
        orders: Sequence[dict[str, Any]],
        token: str = "oms_test_token",
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/graphql",
    ) -> None:
        if isinstance(orders, list):
            # Copied so a caller mutating its list cannot change what is served mid-test.
            orders = sorted(copy.deepcopy(orders), key=lambda o: (_datetime(o["createdAt"]), o["id"]))
        self._orders = orders  # other sequences (GeneratedOrders) are already in createdAt order
        self._token = token
        self.path = path
        self.faults = Faults()
        self.request_log: list[GraphQLRequest] = []
        self._lock = threading.Lock()
        super().__init__(host, port)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def execute(self, query: str, variables: dict[str, Any] | None, entry: GraphQLRequest) -> dict:
        """The response body for one GraphQL request (errors included), as the HTTP layer sends it."""
        try:
            operation = _Parser(query).document()
            entry.selected = selected_paths(operation)
            values = validate(operation, variables or {})
        except GraphQLError as exc:
            code = (
                "GRAPHQL_PARSE_FAILED" if str(exc).startswith("Syntax Error") else "GRAPHQL_VALIDATION_FAILED"
            )
            return {"errors": [{**exc.entry, "extensions": {"code": code}}]}
        except _RequestErrors as exc:
            return {"errors": exc.errors}
        errors: list[dict[str, Any]] = []
        try:
            data = self._object("Query", None, operation.selections, values, [], errors)
        except _NullBubble:
            data = None
        return {"errors": errors, "data": data} if errors else {"data": data}

    def _object(
        self, type_name: str, parent: Any, fields: list[Field], values: dict, path: list, errors: list
    ):
        result: dict[str, Any] = {}
        for f in _merged(fields):
            ref, _ = _field_type(type_name, f.name) or (TypeRef("String"), {})
            here = [*path, f.key]
            try:
                raw = self._resolve(type_name, parent, f, values, here)
                result[f.key] = self._complete(ref, raw, f, values, here, errors)
            except GraphQLError as exc:
                errors.append(exc.entry)
                if ref.non_null:
                    raise _NullBubble from None
                result[f.key] = None
            except _NullBubble:
                if ref.non_null:
                    raise
                result[f.key] = None
        return result

    def _complete(self, ref: TypeRef, raw: Any, f: Field, values: dict, path: list, errors: list) -> Any:
        if raw is None:
            if ref.non_null:
                raise GraphQLError(f"Cannot return null for non-nullable field {f.name}.", f.loc, path=path)
            return None
        if ref.of is not None:
            items = []
            for index, item in enumerate(raw):
                items.append(self._complete(ref.of, item, f, values, [*path, index], errors))
            return items
        if ref.name in SCALARS:
            return raw
        return self._object(ref.name, raw, f.selections or [], values, path, errors)

    def _resolve(self, type_name: str, parent: Any, f: Field, values: dict, path: list) -> Any:
        if f.name == "__typename":
            return type_name
        if f.name == "orders" and type_name in ("Query", "Shop"):
            args = {name: values[v.name] if isinstance(v, Var) else v for name, v in f.args.items()}
            return self._connection(args, f, path)
        if type_name == "Query" and f.name == "shop":
            return {"name": "Sandbox Shop"}
        return parent.get(f.name)

    def _connection(self, args: dict[str, Any], f: Field, path: list) -> dict[str, Any]:
        first = DEFAULT_FIRST if args.get("first") is None else args["first"]
        if not 1 <= first <= MAX_FIRST:
            message = f"first must be between 1 and {MAX_FIRST}, got {first}."
            raise GraphQLError(message, f.loc, "BAD_USER_INPUT", path)
        low, high = 0, len(self._orders)
        bounds = [
            _datetime(args[name]) if isinstance(args.get(name), str) else args.get(name)
            for name in ("createdFrom", "createdTo")
        ]
        if bounds[0] is not None:
            low = bisect.bisect_left(self._orders, bounds[0], key=lambda o: _datetime(o["createdAt"]))
        if bounds[1] is not None:
            high = max(
                low, bisect.bisect_left(self._orders, bounds[1], key=lambda o: _datetime(o["createdAt"]))
            )
        start = low
        if args.get("after") is not None:
            start = max(low, _decode_cursor(args["after"], len(self._orders), f, path) + 1)
        end = min(high, start + first)
        page = [self._orders[i] for i in range(start, end)]
        cursors = [_cursor(i) for i in range(start, end)]
        return {
            "edges": [{"cursor": c, "node": o} for c, o in zip(cursors, page, strict=True)],
            "nodes": page,
            "totalCount": high - low,
            "pageInfo": {
                "hasNextPage": end < high,
                "hasPreviousPage": start > low,
                "startCursor": cursors[0] if cursors else None,
                "endCursor": cursors[-1] if cursors else None,
            },
        }

    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self._token.encode()
        )

    def _log(self, entry: GraphQLRequest) -> None:
        with self._lock:
            self.request_log.append(entry)


class _NullBubble(Exception):
    """A null in a non-null position, travelling up to the nearest nullable field (or ``data``)."""


def _merged(fields: list[Field]) -> list[Field]:
    # Fields with one response key are one field whose sub-selections add up (GraphQL field merging).
    by_key: dict[str, Field] = {}
    for f in fields:
        if f.key in by_key and f.selections is not None:
            kept = by_key[f.key]
            kept.selections = [*(kept.selections or []), *f.selections]
        else:
            by_key.setdefault(f.key, copy.copy(f))
    return list(by_key.values())


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"order:{index}".encode()).decode()


def _decode_cursor(cursor: Any, size: int, f: Field, path: list) -> int:
    try:
        kind, _, index = base64.urlsafe_b64decode(str(cursor).encode()).decode().partition(":")
        if kind == "order" and 0 <= int(index) < size:
            return int(index)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise GraphQLError(f"Invalid cursor {cursor!r}.", f.loc, "BAD_USER_INPUT", path)


def _make_handler(sandbox: OrdersGraphQLSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "oms-graphql-sandbox"
        # Headers and body leave in two writes; without TCP_NODELAY, keep-alive clients wait ~40 ms a page.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            entry = GraphQLRequest(None, {}, sandbox._authorized(self.headers.get("Authorization")))
            sandbox._log(entry)
            if sandbox.faults.apply(self):
                fault = sandbox.faults.applied[-1]
                entry.status = fault.status
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?")[0] != sandbox.path:
                return self._send(
                    entry, HTTPStatus.NOT_FOUND, {"errors": [{"message": f"No route {self.path}"}]}
                )
            if not entry.authorized:
                error = {"message": "Unauthorized: send a valid bearer token."}
                error["extensions"] = {"code": "UNAUTHENTICATED"}
                return self._send(entry, HTTPStatus.UNAUTHORIZED, {"errors": [error]})
            try:
                request = json.loads(body)
            except ValueError:
                request = None
            if not isinstance(request, dict) or not isinstance(request.get("query"), str):
                error = {"message": 'The body must be a JSON object with a "query" string.'}
                return self._send(entry, HTTPStatus.BAD_REQUEST, {"errors": [error]})
            variables = request.get("variables") or {}
            if not isinstance(variables, dict):
                error = {"message": '"variables" must be a JSON object.'}
                return self._send(entry, HTTPStatus.BAD_REQUEST, {"errors": [error]})
            entry.query, entry.variables = request["query"], variables
            self._send(entry, HTTPStatus.OK, sandbox.execute(request["query"], variables, entry))

        def do_GET(self) -> None:
            entry = GraphQLRequest(None, {}, sandbox._authorized(self.headers.get("Authorization")))
            sandbox._log(entry)
            error = {"message": "This sandbox answers GraphQL over POST only."}
            self._send(entry, HTTPStatus.METHOD_NOT_ALLOWED, {"errors": [error]})

        def _send(self, entry: GraphQLRequest, status: HTTPStatus, body: dict[str, Any]) -> None:
            entry.status = int(status)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Bearer realm="oms"')
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request_log is the record

    return Handler

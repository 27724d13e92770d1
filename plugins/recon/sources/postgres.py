"""Rows of an internal app database (Postgres), read by one read-only SELECT per run window.

Why it is shaped this way:

* The query runs in a READ ONLY transaction that is always rolled back, so a spec can never change
  the app's data, not even through a function or a data-modifying CTE (Postgres refuses both).
* A server-side (named) cursor fetches ``fetch_size`` rows at a time, so memory holds one fetch,
  never the result; ``statement_timeout`` bounds each statement (the DECLARE and every FETCH).
* Money stays exact: ``numeric`` arrives as ``Decimal``, json numbers are parsed as ``Decimal``, and
  a ``real``/``double precision`` amount column fails the extract before the first row: it is a
  property of the query, not of a row, so quarantining would only file every row under the same
  reason, and the fix (``amount::numeric`` or the exact source column) belongs in the spec.
* The session's ``TimeZone`` is the spec's ``timezone``: a naive ``timestamp`` column is then
  compared with the window bounds in the same zone in which ``RecordMapping`` reads its values.
* Problems of the query (syntax, unknown column, a write, a bad cast) are ``SourceRejected``: the
  same query fails the same way on every retry. Lost connections and timeouts are retryable.
* A table without a time (a catalogue of events, products, accounts) is read whole every run: a query
  without window placeholders. ``snapshot: true`` says so explicitly, and a reconciled source must
  say it (the spec refuses a reconciled query that forgot its window); a reference without
  placeholders is read whole as it is. Such a source needs no ``occurred_at``, and the default
  ``in_window`` rule does not apply to it (``windowed_by_occurred_at``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.base import RecordSource
from recon.sources.mapping import RecordMapping
from recon.sources.registry import register
from recon.window import RunWindow

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

WINDOW_PARAMS = frozenset({"window_start", "window_end"})
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_FLOAT_TYPES = {700: "real", 701: "double precision"}  # pg_type oids of float4 and float8
# SQLSTATE classes that the same query hits again on every retry (see the module docstring).
_PERMANENT_CLASSES = {"0A", "21", "22", "25", "28", "2F", "3D", "3F", "42"}
# libpq says these while connecting; no retry turns a wrong login or database into a right one.
_REFUSED_AT_CONNECT = (
    "password authentication failed",
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "not permitted to log in",
    "permission denied",
)

Scalar = bool | int | Decimal | str | date | datetime | None
ParamValue = Scalar | list[Scalar]


@register
class PostgresSource(RecordSource, RecordMapping):
    """A SELECT over an app database; each result row (column -> value) is one source item."""

    type: Literal["postgres"]
    # Read-only SELECT using %(window_start)s and %(window_end)s (half-open: >= start, < end); with
    # snapshot (or as a reference), a SELECT without them that reads the table whole.
    query: str
    # Read the whole result every run (a catalogue, a balance table): no window placeholders, no
    # occurred_at needed, no in-window check.
    snapshot: bool = False
    # Extra named values for the query, as %(name)s.
    params: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], ParamValue] = {}
    # Short name in each record's origin, postgres://<connection>/<label>; default: the source name.
    label: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = None
    fetch_size: Annotated[int, Field(ge=1, le=1_000_000)] = 5_000
    timeout_seconds: Annotated[int, Field(ge=1)] = 300

    @field_validator("params", mode="before")
    @classmethod
    def _exact_params(cls, value: Any) -> Any:
        # YAML reads 0.1 as a float; its text is what the author wrote, so use that, exactly.
        def exact(item: Any) -> Any:
            if isinstance(item, float):
                return Decimal(repr(item))
            return [exact(i) for i in item] if isinstance(item, list) else item

        return {k: exact(v) for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _placeholders_match(self) -> PostgresSource:
        used = set(_PLACEHOLDER.findall(self.query))
        windowed = sorted(WINDOW_PARAMS & used)
        if self.snapshot and windowed:
            raise ValueError(
                f"query: a snapshot is read whole every run, so its query must not use the run window;"
                f" it uses {', '.join(windowed)} (drop snapshot: true to read by window)"
            )
        if windowed and (missing := sorted(WINDOW_PARAMS - used)):
            raise ValueError(
                f"query must filter on the run window with %(window_start)s and %(window_end)s"
                f" (>= start, < end); it lacks {', '.join(missing)}"
            )
        if clash := sorted(WINDOW_PARAMS & self.params.keys()):
            raise ValueError(f"params must not set {', '.join(clash)}: the run window supplies them")
        if undefined := sorted(used - WINDOW_PARAMS - self.params.keys()):
            raise ValueError(f"query uses {', '.join(undefined)} but params does not define it")
        if unused := sorted(self.params.keys() - used):
            raise ValueError(f"params {', '.join(unused)} not used in the query as %(name)s")
        return self

    @property
    def reads_whole(self) -> bool:
        """A snapshot, or a query without window placeholders (allowed for references only)."""
        return self.snapshot or not WINDOW_PARAMS & set(_PLACEHOLDER.findall(self.query))

    @property
    def windowed_by_occurred_at(self) -> bool:
        # A table read whole has rows of any time: the default in_window rule would flag them all.
        return not self.reads_whole

    @property
    def origin(self) -> str:
        return f"postgres://{self.connection}/{self.label or self.name}"

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        conn = connect(self.connection)
        try:
            yield from self._rows(conn, window)
        finally:
            conn.close()

    def _rows(
        self, conn: psycopg.Connection, window: RunWindow
    ) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        import psycopg
        from psycopg.rows import dict_row
        from psycopg.types.json import set_json_loads

        set_json_loads(partial(json.loads, parse_float=Decimal), conn)
        conn.read_only = True  # BEGIN READ ONLY: the server refuses any write the query attempts
        params = dict(self.params)
        if not self.reads_whole:
            params |= {"window_start": window.start, "window_end": window.end}
        fetches = position = 0
        try:
            with conn.transaction(force_rollback=True):
                conn.execute(
                    "select set_config('statement_timeout', %s, true), set_config('TimeZone', %s, true),"
                    " set_config('application_name', %s, true)",
                    (f"{self.timeout_seconds}s", self.timezone, f"recon:{self.name}"),
                )
                with conn.cursor(name=f"recon_{self.name}", row_factory=dict_row) as cur:
                    cur.execute(self.query, params)
                    self._check_columns(cur.description or [])
                    while rows := cur.fetchmany(self.fetch_size):
                        fetches += 1
                        log.debug("%s: fetch %d, %d rows", self.origin, fetches, len(rows))
                        for row in rows:
                            position += 1
                            yield self.map_item(row, self.origin, position)
        except psycopg.Error as exc:
            raise self._error(exc) from None
        whole = " (read whole)" if self.reads_whole else ""
        log.info(
            "%s: %d rows in %d fetches of up to %d%s", self.origin, position, fetches, self.fetch_size, whole
        )

    def _check_columns(self, description: list[Any]) -> None:
        """Fail before the first row on what would otherwise quarantine every row alike."""
        names = [column.name for column in description]
        if duplicates := sorted({name for name in names if names.count(name) > 1}):
            raise self._rejected(
                f"query returns column(s) {', '.join(duplicates)} more than once; alias them"
            )
        mapped = {f"fields.{k}": v for k, v in self.fields.model_dump(exclude_none=True).items()}
        mapped |= {f"attributes.{k}": v for k, v in self.attributes.items()}
        for setting, path in mapped.items():
            if path.split(".")[0] not in names:
                raise self._rejected(
                    f"{setting} maps column {path.split('.')[0]!r}, which the query does not return;"
                    f" it returns {', '.join(names)}"
                )
        if self.fields.amount is None:
            return
        amount_column = self.fields.amount.split(".")[0]
        for column in description:
            if column.name == amount_column and column.type_code in _FLOAT_TYPES:
                raise self._rejected(
                    f"amount column {amount_column!r} is {_FLOAT_TYPES[column.type_code]}, which cannot hold"
                    f" money exactly; select the exact column or cast it, e.g. {amount_column}::numeric"
                )

    def _rejected(self, problem: str) -> SourceRejected:
        return SourceRejected(f"connection {self.connection!r} ({self.label or self.name}): {problem}")

    def _error(self, exc: psycopg.Error) -> SourceUnavailable:
        """The connection, the label and Postgres' own message; permanent unless a retry can help."""
        state = exc.sqlstate or ""
        message = (exc.diag.message_primary if exc.diag else None) or str(exc).splitlines()[0]
        problem = f"query failed ({state or type(exc).__name__}): {message}"
        if state == "25006":
            problem += " (postgres sources are read-only: the query must not write)"
        elif state == "57014":
            problem += f" (timeout_seconds is {self.timeout_seconds})"
        if state[:2] in _PERMANENT_CLASSES or (not state and not _is_connection_error(exc)):
            return self._rejected(problem)
        return SourceUnavailable(f"connection {self.connection!r} ({self.label or self.name}): {problem}")


def connect(conn_id: str) -> psycopg.Connection:
    """A psycopg 3 connection from the Airflow connection, with connect failures named after it."""
    import psycopg
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    except AirflowNotFoundException:
        # A missing connection is configuration, not weather: retrying cannot create it.
        raise SourceRejected(
            f"connection {conn_id!r} is not defined; add it in Airflow (or AIRFLOW_CONN_{conn_id.upper()})"
        ) from None
    except psycopg.OperationalError as exc:
        # libpq's text names host, port, user and database, never the password.
        reason = _connect_reason(exc)
        if any(marker in reason for marker in _REFUSED_AT_CONNECT):
            raise SourceRejected(f"connection {conn_id!r}: Postgres refused the login: {reason}") from None
        raise SourceUnavailable(f"connection {conn_id!r}: cannot connect to Postgres: {reason}") from None
    if not isinstance(conn, psycopg.Connection):
        conn.close()
        raise SourceRejected(f"connection {conn_id!r}: recon needs psycopg 3; install from constraints.txt")
    return conn


def _connect_reason(exc: Exception) -> str:
    """libpq's reason without its prefixes and hint lines: 'role "x" does not exist'."""
    text = str(exc).removeprefix("connection failed: ")
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1]
    return " ".join(text.strip().splitlines()[0].split())


def _is_connection_error(exc: Exception) -> bool:
    import psycopg

    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

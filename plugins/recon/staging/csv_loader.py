"""Load a CSV stream into staging: raw COPY into a landing table, then set-based SQL mapping.

The file is streamed into COPY as it is read (never held whole). Every cell lands as text; one SQL
statement maps the configured columns into canonical records and sends each row that fails a
check to the quarantine table with its reason and line, all in the same transaction.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import psycopg
from psycopg import sql

from recon.errors import PermanentError
from recon.staging.loader import LoadResult, clear_window
from recon.window import RunWindow

CHUNK_BYTES = 1 << 20

# Postgres names for the encodings a spec may declare.
_PG_ENCODINGS = {
    "utf-8": "UTF8",
    "utf8": "UTF8",
    "latin-1": "LATIN1",
    "latin1": "LATIN1",
    "iso-8859-1": "LATIN1",
    "cp1252": "WIN1252",
    "windows-1252": "WIN1252",
}


class SourceFileError(PermanentError, ValueError):
    """A file that cannot be loaded at all; the message names the file and line."""


REQUIRED_FIELDS = ("record_key", "amount", "currency", "occurred_at")


@dataclass(frozen=True)
class CsvLayout:
    """Which header column feeds each canonical field, and how amounts are written."""

    columns: Mapping[str, str]  # canonical field -> CSV column; see REQUIRED_FIELDS
    amount_unit: str = "major"  # "major" (12.34) or "minor" (1234)
    delimiter: str = ","
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        missing = [field for field in REQUIRED_FIELDS if not self.columns.get(field)]
        if missing:
            raise ValueError(f"CSV layout has no column for {missing}")

    def mapped(self) -> dict[str, str]:
        return {field: column for field, column in self.columns.items() if column}


def replace_window_from_files(
    conn: psycopg.Connection, window: RunWindow, source: Any, files: Iterable[Any]
) -> LoadResult:
    """Replace the window's rows for ``source`` with the CSV files it fetched (one, for now)."""
    from recon.sources.sftp_csv import layout

    fetched = list(files)
    if len(fetched) != 1:
        raise SourceFileError(f"source {source.name!r}: expected exactly one file, got {len(fetched)}")
    (file,) = fetched
    with file.local_path.open("rb") as stream:
        return replace_window_from_csv(conn, window, source.name, stream, layout(source), file.origin)


def replace_window_from_csv(
    conn: psycopg.Connection,
    window: RunWindow,
    source: str,
    stream: BinaryIO,
    layout: CsvLayout,
    origin: str,
) -> LoadResult:
    """Replace the window's rows for ``source`` with the CSV in ``stream``, in one transaction."""
    encoding = _pg_encoding(layout.encoding, origin)
    header = _read_header(stream, layout, origin)
    with conn.transaction(), conn.cursor() as cur:
        _create_landing(cur, header)
        _copy_stream(cur, header, stream, layout, encoding, origin)
        clear_window(cur, window, source)
        loaded, quarantined = _map_landing(cur, window, source, layout, origin)
    return LoadResult(source=source, loaded=loaded, quarantined=quarantined)


def _pg_encoding(encoding: str, origin: str) -> str:
    try:
        return _PG_ENCODINGS[encoding.lower()]
    except KeyError:
        raise SourceFileError(
            f"{origin}: encoding {encoding!r} is not supported; use one of {sorted(_PG_ENCODINGS)}"
        ) from None


def _read_header(stream: BinaryIO, layout: CsvLayout, origin: str) -> list[str]:
    raw = stream.readline()
    if not raw.strip():
        raise SourceFileError(f"{origin}: line 1: the file is empty; expected a header row")
    text = codecs.decode(raw, layout.encoding).lstrip("\ufeff")
    header = [name.strip() for name in next(csv.reader([text], delimiter=layout.delimiter))]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise SourceFileError(f"{origin}: line 1: duplicate column names {duplicates}")
    for field, column in layout.mapped().items():
        if column not in header:
            raise SourceFileError(
                f"{origin}: line 1: column {column!r} (mapped to field {field!r}) is not in the header"
                f" {header}"
            )
    return header


def _create_landing(cur: psycopg.Cursor, header: list[str]) -> None:
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(name)) for name in header)
    cur.execute(
        sql.SQL(
            "create temporary table landing (line_number bigint generated always as identity, {})"
            " on commit drop"
        ).format(columns)
    )


def _copy_stream(
    cur: psycopg.Cursor, header: list[str], stream: BinaryIO, layout: CsvLayout, encoding: str, origin: str
) -> None:
    statement = sql.SQL("copy landing ({}) from stdin (format csv, delimiter {}, encoding {})").format(
        sql.SQL(", ").join(map(sql.Identifier, header)),
        sql.Literal(layout.delimiter),
        sql.Literal(encoding),
    )
    try:
        with cur.copy(statement) as copy:
            while chunk := stream.read(CHUNK_BYTES):
                copy.write(chunk)
    except psycopg.errors.DataError as exc:
        raise SourceFileError(f"{origin}: {_copy_error_location(exc)}{exc.diag.message_primary}") from None


def _copy_error_location(exc: psycopg.Error) -> str:
    # Postgres reports "COPY landing, line N"; N counts data lines, the header was line 1.
    context = exc.diag.context or ""
    marker = "line "
    if marker in context:
        digits = context.split(marker, 1)[1].split(":", 1)[0].split(",", 1)[0].strip()
        if digits.isdigit():
            return f"line {int(digits) + 1}: "
    return ""


_MAP_SQL = """
create temporary table checked on commit drop as
with parsed as materialized (  -- parse each cell once, not once per use
    select
        landing.line_number + 1 as origin_line,
        nullif(btrim({record_key}), '') as record_key,
        btrim({amount}) as amount_text,
        staging.try_numeric(btrim({amount})) as amount_value,
        upper(btrim({currency})) as currency,
        btrim({occurred_at}) as occurred_text,
        staging.try_timestamptz(btrim({occurred_at})) as occurred_at,
        {status} as status,
        nullif(btrim({customer_email}), '') as customer_email,
        nullif(btrim({reference}), '') as reference,
        nullif(btrim({group_key}), '') as group_key,
        to_jsonb(landing) - 'line_number' as raw
    from landing
)
select
    parsed.*,
    coalesce(currencies.exponent, 2) as exponent,
    case
        when parsed.record_key is null then format('record_key is empty (column %s)', {record_key_name})
        when parsed.amount_value is null
            then format('amount %L is not a number (column %s)', parsed.amount_text, {amount_name})
        when parsed.currency !~ '^[A-Z]{{3}}$'
            then format('currency %L is not an ISO 4217 code (column %s)', parsed.currency, {currency_name})
        when {amount_unit} = 'minor' and scale(parsed.amount_value) > 0
            then format('amount %L is not a whole number of minor units (column %s)',
                        parsed.amount_text, {amount_name})
        when {amount_unit} = 'major' and scale(parsed.amount_value) > coalesce(currencies.exponent, 2)
            then format('amount %L has more decimals than %s allows (%s) (column %s)',
                        parsed.amount_text, parsed.currency, coalesce(currencies.exponent, 2), {amount_name})
        when parsed.occurred_at is null
            then format('occurred_at %L is not a timestamp (column %s)',
                        parsed.occurred_text, {occurred_at_name})
    end as reason
from parsed
left join staging.currencies on currencies.currency = parsed.currency
"""

_INSERT_RECORDS_SQL = """
insert into staging.records (
    spec, source, run_id, window_start, window_end, record_key, group_key, amount, currency,
    occurred_at, status, customer_email, reference, attributes, origin, origin_line
)
select
    %(spec)s, %(source)s, %(run_id)s, %(window_start)s, %(window_end)s, record_key, group_key,
    case when %(amount_unit)s = 'minor' then amount_value * power(10::numeric, -exponent)
         else amount_value end,
    currency, occurred_at, status, customer_email, reference, raw - %(mapped)s::text[], %(origin)s,
    origin_line
from checked
where reason is null
"""

_INSERT_QUARANTINE_SQL = """
insert into staging.quarantine (spec, source, run_id, origin, origin_line, record_key, reason, raw)
select %(spec)s, %(source)s, %(run_id)s, %(origin)s, origin_line, record_key, reason, raw
from checked
where reason is not null
"""


def _map_landing(
    cur: psycopg.Cursor, window: RunWindow, source: str, layout: CsvLayout, origin: str
) -> tuple[int, int]:
    mapped = layout.mapped()

    def column(field: str) -> sql.Composable:
        return sql.Identifier(mapped[field]) if field in mapped else sql.SQL("null::text")

    statement = sql.SQL(_MAP_SQL).format(
        record_key=column("record_key"),
        amount=column("amount"),
        currency=column("currency"),
        occurred_at=column("occurred_at"),
        status=column("status"),
        customer_email=column("customer_email"),
        reference=column("reference"),
        group_key=column("group_key"),
        amount_unit=sql.Literal(layout.amount_unit),
        **{
            f"{field}_name": sql.Literal(mapped[field])
            for field in ("record_key", "amount", "currency", "occurred_at")
        },
    )
    cur.execute(statement)
    params = {
        "spec": window.spec,
        "source": source,
        "run_id": window.run_id,
        "window_start": window.start,
        "window_end": window.end,
        "origin": origin,
        "amount_unit": layout.amount_unit,
        "mapped": list(mapped.values()),
    }
    cur.execute(_INSERT_RECORDS_SQL, params)
    loaded = cur.rowcount
    cur.execute(_INSERT_QUARANTINE_SQL, params)
    return loaded, cur.rowcount

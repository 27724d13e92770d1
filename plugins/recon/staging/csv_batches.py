"""One CSV file -> COPY-ready CSV chunks of canonical records, batch by batch (pyarrow compute).

The fast path checks every row with vectorised kernels. A row it cannot accept goes to ``_scalar``,
the authority on what a row means: it loads the row (for forms the fast path does not know, e.g.
ISO times with fractions) or names the reason it is quarantined. Memory stays at a few batches.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from recon.masking import mask_text
from recon.money import NON_DEFAULT_EXPONENTS, decimals_rule
from recon.staging.csv_format import (
    CsvFormat,
    CsvLayout,
    DebitCreditColumns,
    DebitCreditIndicator,
    Extract,
    LayoutError,
    resolve,
)
from recon.staging.partitions import LOAD_COLUMNS

# pyarrow's reader keeps a few blocks in flight: 1 MiB blocks keep the peak RSS near 120 MB.
BLOCK_BYTES = 1 << 20
REPLACEMENT = "\ufffd"
_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_OPTIONAL = ("group_key", "status", "customer_email", "reference")
_TS = pa.timestamp("us", tz="UTC")
# The load table's columns a file row fills (origin is a per-file default, origin_line comes last).
_SCALAR_COLUMNS = tuple(c for c in LOAD_COLUMNS if c not in ("origin", "origin_line"))


class _Utf8Stream(io.RawIOBase):
    """The file decoded from its encoding and re-encoded as UTF-8; bad bytes become U+FFFD."""

    def __init__(self, raw: io.BufferedIOBase, encoding: str, quote: str | None) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._buffer = memoryview(b"")
        self._eof = False
        # Whether any decoded text so far had U+FFFD or the quote character: while it has not, the
        # per-row checks for bad bytes and for line breaks inside quoted values can be skipped.
        self.saw_replacement = self.saw_quote = False
        self._at_start = True
        self.quote = quote

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer and not self._eof:
            chunk = self._raw.read(1 << 20)
            self._eof = not chunk
            text = self._decoder.decode(chunk, final=self._eof)
            if self._at_start and text:
                text, self._at_start = text.removeprefix("\ufeff"), False  # a BOM is not data
            self.saw_replacement = self.saw_replacement or REPLACEMENT in text
            self.saw_quote = self.saw_quote or (self.quote is not None and self.quote in text)
            self._buffer = memoryview(text.encode("utf-8"))
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class FileReader:
    """Reads one file; ``chunks`` yields COPY data, ``loaded``/``quarantined`` count as it goes."""

    def __init__(self, fmt: CsvFormat, path: Path, origin: str) -> None:
        self.fmt, self.path, self.origin = fmt, path, origin
        self.loaded = self.quarantined = 0
        self._zone = ZoneInfo(fmt.timezone)
        # Exponents that differ from 2: ISO 4217's, then the codes the spec declares (FLOW: 8).
        exponents = {**NON_DEFAULT_EXPONENTS, **fmt.currencies.declared}
        self._codes = pa.array(sorted(exponents), pa.string())
        self._exponents = pa.array([exponents[code] for code in sorted(exponents)], pa.int64())
        self._declared = pa.array(sorted(fmt.currencies.declared), pa.string())
        # Only what varies per row is sent; unmapped fields, empty attributes and the origin are
        # column defaults of the load table (partitions.set_origin), so Postgres parses less.
        unmapped = {name for name in _OPTIONAL if getattr(fmt.fields, name) is None}
        if not fmt.attributes:
            unmapped.add("attributes")
        self.columns = tuple(c for c in _SCALAR_COLUMNS + ("origin_line",) if c not in unmapped)

    def _fail(self, line: int, message: str) -> Exception:
        from recon.staging.csv_loader import SourceFileError

        return SourceFileError(f"{self.origin}: line {line}: {message}")

    def chunks(self, reject: Callable[[tuple], None]) -> Iterator[bytes]:
        fmt = self.fmt
        with self.path.open("rb") as raw:
            self._decoded = _Utf8Stream(raw, fmt.encoding, fmt.quote)
            stream = io.BufferedReader(self._decoded, buffer_size=1 << 20)
            line = 0
            for _ in range(fmt.skip_lines):
                line += 1
                if not stream.readline():
                    raise self._fail(line, f"the file ends inside the {fmt.skip_lines} preamble lines")
            header = None
            if fmt.header:
                line += 1
                text = stream.readline().decode("utf-8").lstrip("\ufeff")
                if not text.strip():
                    raise self._fail(line, "the file is empty; expected a header row")
                header = self._split(text)
            first = stream.peek(1 << 16).split(b"\n", 1)[0].decode("utf-8", "replace")
            if header is None and not first.strip():
                raise self._fail(line + 1, "the file is empty; expected a data row")
            try:
                layout = resolve(fmt, header, len(self._split(first)) if first.strip() else 0)
            except LayoutError as exc:
                raise self._fail(max(line, 1), str(exc)) from None
            if stream.peek(1):  # a header and nothing else is an empty statement, not an error
                yield from self._batches(stream, layout, line + 1, reject)

    def _split(self, text: str) -> list[str]:
        fmt = self.fmt
        dialect = {"delimiter": fmt.delimiter, "escapechar": fmt.escape, "doublequote": fmt.escape is None}
        if fmt.quote is None:
            dialect.update(quoting=csv.QUOTE_NONE)
        else:
            dialect.update(quotechar=fmt.quote)
        return next(csv.reader([text.rstrip("\r\n")], **dialect), [])

    def _batches(
        self, stream: io.BufferedReader, layout: CsvLayout, first_line: int, reject: Callable[[tuple], None]
    ) -> Iterator[bytes]:
        fmt = self.fmt
        invalid: deque[tuple[int, int, str, int]] = deque()

        def on_invalid(row: Any) -> str:
            invalid.append((row.number, row.text.count("\n"), row.text, row.actual_columns))
            return "skip"

        names = [f"c{i}" for i in range(layout.width)]
        used = sorted(set(layout.positions.values()))
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(column_names=names, use_threads=False, block_size=BLOCK_BYTES),
            parse_options=pcsv.ParseOptions(
                delimiter=fmt.delimiter,
                quote_char=fmt.quote or False,
                double_quote=fmt.escape is None,
                escape_char=fmt.escape or False,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={names[i]: pa.string() for i in used},
                include_columns=[names[i] for i in used],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        state = {"row": 1, "extra": 0}

        def report_invalid(number: int, newlines: int, text: str, width: int) -> None:
            line = first_line + number - 1 + state["extra"]
            state["extra"] += newlines
            state["row"] = number + 1
            self.quarantined += 1
            reason = f"wrong number of fields: expected {layout.width}, found {width}"
            if self.fmt.personal:
                text = mask_text(text)
            reject((self.origin, line, None, reason, json.dumps({"line": text}), text))

        import pyarrow.lib

        try:
            for batch in reader:
                columns = {i: batch.column(names[i]) for i in used}
                newlines = np.zeros(batch.num_rows, dtype=np.int64)
                if self._decoded.saw_quote:
                    for column in columns.values():
                        if _has_newline(column):
                            newlines += pc.count_substring(column, "\n").to_numpy(zero_copy_only=False)
                lines = np.empty(batch.num_rows, dtype=np.int64)
                done = 0
                while done < batch.num_rows:
                    if invalid and invalid[0][0] == state["row"]:
                        report_invalid(*invalid.popleft())
                        continue
                    stop = batch.num_rows - done
                    if invalid:
                        stop = min(stop, invalid[0][0] - state["row"])
                    part = newlines[done : done + stop]
                    before = np.cumsum(part) - part
                    base = first_line + state["row"] - 1 + state["extra"]
                    lines[done : done + stop] = base + np.arange(stop) + before
                    state["extra"] += int(part.sum())
                    state["row"] += stop
                    done += stop
                yield self._map(columns, layout, pa.array(lines), reject)
        except pyarrow.lib.ArrowInvalid as exc:
            raise self._fail(first_line + state["row"] - 1 + state["extra"], f"cannot parse: {exc}") from None
        while invalid:
            report_invalid(*invalid.popleft())

    # --- mapping one batch ----------------------------------------------------------------------------

    def _value(self, columns: dict[int, pa.Array], layout: CsvLayout, what: str, ref: Any) -> pa.Array:
        values = pc.ascii_trim_whitespace(columns[layout.positions[what]])
        if isinstance(ref, Extract):
            pattern = re.sub(r"\((?!\?)", "(?P<value>", ref.pattern, count=1)
            values = pc.struct_field(pc.extract_regex(values, pattern=pattern), [0])
        if self.fmt.is_personal(what):
            # Masked before it is stored (PersonalFields); Python per value, on declared columns only.
            values = pa.array([None if v is None else mask_text(v) for v in values.to_pylist()], pa.string())
        return values

    def _map(
        self,
        columns: dict[int, pa.Array],
        layout: CsvLayout,
        lines: pa.Array,
        reject: Callable[[tuple], None],
    ) -> bytes:
        fmt, fields = self.fmt, self.fmt.fields
        n = len(lines)
        value = {what: self._value(columns, layout, what, ref) for what, ref in fmt.fields if ref is not None}
        # A blank line parses as a row of empty cells: it counts as a line but is not a record.
        width = None
        for column in columns.values():
            length = pc.binary_length(column)
            width = length if width is None else pc.add(width, length)
        blank = pc.equal(width, 0)
        ok = pc.invert(blank)
        if self._decoded.saw_replacement:
            for column in columns.values():
                ok = pc.and_(ok, pc.invert(pc.match_substring(column, REPLACEMENT)))
        key = value["record_key"]
        ok = pc.and_(ok, pc.greater(pc.binary_length(key), 0))
        if fields.currency is not None:
            currency = pc.utf8_upper(value["currency"])
        else:
            currency = pa.repeat(str(fmt.currency).upper(), n)
        # An ISO 4217 code (three letters) or a declared one; the scalar path names any other.
        iso = pc.match_substring_regex(currency, r"^[A-Z]{3}$")
        ok = pc.and_(ok, pc.or_(iso, pc.is_in(currency, self._declared)))
        amount, negative, amount_ok = self._amount(columns, layout, value, currency, n)
        ok = pc.and_(ok, amount_ok)
        occurred = self._times(value["occurred_at"])
        ok = pc.and_(ok, pc.is_valid(occurred))
        attributes = self._attributes(columns, layout, n)
        ok = pc.and_(ok, pc.is_valid(attributes))
        ok = pc.fill_null(ok, False)
        signed = pc.if_else(negative, pc.binary_join_element_wise("-", amount, ""), amount)
        out = {
            "record_key": key,
            "group_key": value.get("group_key"),
            "amount": signed,
            "currency": currency,
            # Naive UTC text: Arrow formats it ~50x faster than zoned text; the loader's session is UTC.
            "occurred_at": pc.cast(occurred, pa.timestamp("us")),
            "status": value.get("status"),
            "customer_email": value.get("customer_email"),
            "reference": value.get("reference"),
            "attributes": attributes,
        }
        for name in _OPTIONAL:
            out[name] = (
                pa.nulls(n, pa.string())
                if out[name] is None
                else pc.if_else(
                    pc.equal(pc.binary_length(out[name]), 0), pa.scalar(None, pa.string()), out[name]
                )
            )
        out["origin_line"] = lines
        table = pa.table({name: out[name] for name in self.columns}).filter(ok)
        self.loaded += table.num_rows
        chunk = _copy_text(table) if table.num_rows else b""
        failed = pc.indices_nonzero(pc.and_(pc.invert(ok), pc.invert(blank))).to_pylist()
        if failed:
            chunk += self._rescue(columns, layout, lines, failed, reject)
        return chunk

    def _amount(
        self, columns: dict, layout: CsvLayout, value: dict, currency: pa.Array, n: int
    ) -> tuple[pa.Array, pa.Array, pa.Array]:
        fmt = self.fmt
        debit = pa.repeat(False, n)
        ok = pa.repeat(True, n)
        dc = fmt.debit_credit
        if isinstance(dc, DebitCreditColumns):
            d = pc.ascii_trim_whitespace(columns[layout.positions["debit_credit.debit_amount"]])
            c = pc.ascii_trim_whitespace(columns[layout.positions["debit_credit.credit_amount"]])
            debit = pc.greater(pc.binary_length(d), 0)
            ok = pc.xor(debit, pc.greater(pc.binary_length(c), 0))
            raw = pc.if_else(debit, d, c)
        else:
            raw = value["amount"]
            if isinstance(dc, DebitCreditIndicator):
                flag = pc.ascii_trim_whitespace(columns[layout.positions["debit_credit.indicator"]])
                debit = pc.is_in(flag, pa.array(dc.debit))
                ok = pc.or_(debit, pc.is_in(flag, pa.array(dc.credit)))
        ok = pc.and_(ok, pc.match_substring_regex(raw, _number_pattern(fmt)))
        text = pc.replace_substring(raw, fmt.thousands, "") if fmt.thousands else raw
        if fmt.decimal == ",":
            text = pc.replace_substring(text, ",", ".")
        minus = pc.starts_with(text, "-")
        text = pc.utf8_ltrim(text, "+-")
        exponent = pc.fill_null(pc.take(self._exponents, pc.index_in(currency, self._codes)), 2)
        dot = pc.find_substring(text, ".")
        if fmt.amount_unit == "minor":
            ok = pc.and_(ok, pc.equal(dot, -1))
            text = _shift_minor(text, exponent)
        else:
            decimals = pc.if_else(
                pc.equal(dot, -1), 0, pc.subtract(pc.subtract(pc.utf8_length(text), dot), 1)
            )
            ok = pc.and_(ok, pc.less_equal(decimals, exponent))
        return text, pc.xor(minus, debit), ok

    def _times(self, raw: pa.Array) -> pa.Array:
        fmt = self.fmt
        formats = [f for f in (fmt.datetime_format, fmt.date_format) if f] or [*_ISO_FORMATS, "%Y-%m-%d"]
        result = pa.nulls(len(raw), _TS)
        for form in formats:
            if result.null_count == 0:
                break
            parsed = pc.strptime(raw, format=form, unit="us", error_is_null=True)
            if parsed.type.tz is None:
                parsed = pc.assume_timezone(
                    parsed, fmt.timezone, ambiguous="earliest", nonexistent="earliest"
                )
            result = pc.coalesce(result, pc.cast(parsed, _TS))
        return result

    def _attributes(self, columns: dict, layout: CsvLayout, n: int) -> pa.Array:
        if not self.fmt.attributes:
            return pa.repeat("{}", n)
        parts: list[Any] = []
        valid = pa.repeat(True, n)
        for index, (name, ref) in enumerate(self.fmt.attributes.items()):
            values = self._value(columns, layout, f"attributes.{name}", ref)
            valid = pc.and_(valid, pc.invert(pc.match_substring_regex(values, r"[\x00-\x1f]")))
            escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
            quoted = pc.binary_join_element_wise('"', escaped, '"', "")
            empty = pc.fill_null(pc.equal(pc.binary_length(values), 0), True)
            json_value = pc.if_else(empty, "null", quoted)
            parts += [("," if index else "{") + json.dumps(name) + ":", json_value]
        joined = pc.binary_join_element_wise(*parts, "}", "")
        return pc.if_else(valid, joined, pa.scalar(None, pa.string()))

    # --- the slow path: one row at a time -------------------------------------------------------------

    def _rescue(
        self, columns: dict, layout: CsvLayout, lines: pa.Array, failed: list[int], reject: Callable
    ) -> bytes:
        out: list[str] = []
        positions = list(columns)
        taken = pa.table([columns[p] for p in positions], names=[str(p) for p in positions]).take(failed)
        rows = taken.to_pylist()
        line_numbers = lines.take(failed).to_pylist()
        for row, line in zip(rows, line_numbers, strict=True):
            cells = {int(position): value for position, value in row.items()}
            result = _scalar(self.fmt, layout, cells, self._zone)
            if isinstance(result, str):
                self.quarantined += 1
                raw = {layout.names[p]: v for p, v in sorted(cells.items())}
                if self.fmt.personal:  # the raw row holds the personal columns in clear
                    raw = {name: mask_text(v) for name, v in raw.items()}
                key = cells[layout.positions["record_key"]].strip() or None
                # Cell by cell: a delimiter next to a number must not hide it from the mask.
                masked = {p: mask_text(v) for p, v in cells.items()} if self.fmt.personal else cells
                raw_line = self._join(masked)
                reject((self.origin, line, key, result, json.dumps(raw), raw_line))
            else:
                self.loaded += 1
                row = dict(zip(_SCALAR_COLUMNS, result, strict=True), origin_line=line)
                out.append("\t".join(_escape(row[name]) for name in self.columns) + "\n")
        return "".join(out).encode("utf-8")

    def _join(self, cells: dict[int, str]) -> str:
        out = io.StringIO()
        dialect: dict[str, Any] = {"delimiter": self.fmt.delimiter, "lineterminator": "\n"}
        if self.fmt.quote is None:
            dialect.update(quoting=csv.QUOTE_NONE, escapechar=self.fmt.escape or "\\")
        else:
            dialect.update(quotechar=self.fmt.quote, escapechar=self.fmt.escape)
        csv.writer(out, **dialect).writerow([cells[p] for p in sorted(cells)])
        return out.getvalue()[:-1]


def _copy_text(table: pa.Table) -> bytes:
    """The rows in COPY's text format, built by Arrow's string kernels (no per-row Python).

    Joining the columns with tabs gives the COPY text directly when no value holds a tab, line
    break or backslash; counting those bytes in the result proves it (each NULL's ``\\N`` holds one
    backslash). Otherwise the batch is escaped first, which costs four more kernels a column.
    """
    n, width = table.num_rows, table.num_columns
    chunks = [column.chunk(0) for column in table.combine_chunks().columns]
    columns = [c if c.type == pa.string() else pc.cast(c, pa.string()) for c in chunks]
    nulls = sum(column.null_count for column in columns)
    data = _joined(columns)
    bytes_ = np.frombuffer(data, dtype=np.uint8)
    tabs, newlines = np.count_nonzero(bytes_ == 9), np.count_nonzero(bytes_ == 10)
    clean = tabs == n * (width - 1) and newlines == n and np.count_nonzero(bytes_ == 92) == nulls
    if clean and np.count_nonzero(bytes_ == 13) == 0:
        return data
    escaped = []
    for column in columns:
        for raw, code in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            column = pc.replace_substring(column, raw, code)
        escaped.append(column)
    return _joined(escaped)


def _joined(columns: list[Any]) -> bytes:
    rows = pc.binary_join_element_wise(*columns, "\t", null_handling="replace", null_replacement="\\N")
    lines = pc.binary_join_element_wise(rows, "", "\n")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
    start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    return lines.buffers()[2].to_pybytes()[start:end]


def _escape(value: str | int | None) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _has_newline(column: pa.Array) -> bool:
    """Whether any value holds a line break: one vectorised scan of the data buffer, no per-row work."""
    data = column.buffers()[2]
    return data is not None and bool((np.frombuffer(data, dtype=np.uint8) == 10).any())


def _number_pattern(fmt: CsvFormat) -> str:
    digits = r"\d+"
    if fmt.thousands:
        digits = rf"(?:\d{{1,3}}(?:{re.escape(fmt.thousands)}\d{{3}})+|\d+)"
    fraction = "" if fmt.amount_unit == "minor" else rf"(?:{re.escape(fmt.decimal)}\d+)?"
    return rf"^[+-]?{digits}{fraction}$"


def _shift_minor(text: pa.Array, exponent: pa.Array) -> pa.Array:
    """Whole minor units as major-unit text by the currency's exponent: '1234', 2 -> '12.34'."""
    result = text
    for exp in sorted(set(exponent.to_pylist())):
        if exp == 0:
            continue
        padded = pc.utf8_lpad(text, exp + 1, "0")
        shifted = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(padded, 0, -exp), pc.utf8_slice_codeunits(padded, -exp), "."
        )
        result = pc.if_else(pc.equal(exponent, exp), shifted, result)
    return result


class _Reject(ValueError):
    pass


def _scalar(fmt: CsvFormat, layout: CsvLayout, cells: dict[int, str], zone: ZoneInfo) -> str | list:
    """The row as a COPY row (without origin, line) or the reason it is quarantined."""
    try:
        return _scalar_row(fmt, layout, cells, zone)
    except _Reject as reject:
        # A reason may quote a cell; with personal columns it is masked like the cell.
        return mask_text(str(reject)) if fmt.personal else str(reject)


def _column(layout: CsvLayout, what: str) -> str:
    return layout.names[layout.positions[what]]


_REQUIRED_FIELDS = frozenset({"record_key", "amount", "currency", "occurred_at"})


def _field(fmt: CsvFormat, layout: CsvLayout, cells: dict[int, str], what: str, ref: Any) -> str:
    text = cells[layout.positions[what]].strip()
    if isinstance(ref, Extract) and text:
        match = re.search(ref.pattern, text)
        if (match is None or match.group(1) is None) and what not in _REQUIRED_FIELDS:
            return ""  # an optional field the text does not carry is empty, as in the vectorised path
        if match is None or match.group(1) is None:
            raise _Reject(
                f"{what}: pattern {ref.pattern!r} finds nothing in {text!r} (column {_column(layout, what)})"
            )
        text = match.group(1).strip()
    return mask_text(text) if fmt.is_personal(what) else text


def _scalar_row(fmt: CsvFormat, layout: CsvLayout, cells: dict[int, str], zone: ZoneInfo) -> list:
    bad = [layout.names[p] for p, v in sorted(cells.items()) if REPLACEMENT in v]
    if bad:
        raise _Reject(f"bytes not valid in {fmt.encoding} (columns {bad})")
    values = {what: _field(fmt, layout, cells, what, ref) for what, ref in fmt.fields if ref is not None}
    if not values["record_key"]:
        raise _Reject(f"record_key is empty (column {_column(layout, 'record_key')})")
    currency = values["currency"].upper() if "currency" in values else str(fmt.currency).upper()
    if not re.fullmatch(r"[A-Z0-9]{2,12}", currency) or not fmt.currencies.knows(currency):
        shown = values.get("currency", fmt.currency)
        where = f"column {_column(layout, 'currency')}" if "currency" in values else "the file's currency"
        raise _Reject(f"currency {shown!r} {fmt.currencies.unknown(currency)} ({where})")
    amount = _scalar_amount(fmt, layout, cells, values, currency)
    occurred = _scalar_time(fmt, layout, values["occurred_at"], zone)
    attributes = {}
    for name, ref in fmt.attributes.items():
        attributes[name] = _field(fmt, layout, cells, f"attributes.{name}", ref) or None
    optional = [values.get(name) or None for name in _OPTIONAL]
    group_key, status, email, reference = optional
    return [
        values["record_key"],
        group_key,
        str(amount),
        currency,
        occurred.isoformat(),
        status,
        email,
        reference,
        json.dumps(attributes),
    ]


def _scalar_amount(fmt: CsvFormat, layout: CsvLayout, cells: dict, values: dict, currency: str) -> Decimal:
    dc = fmt.debit_credit
    debit = False
    if isinstance(dc, DebitCreditColumns):
        d = cells[layout.positions["debit_credit.debit_amount"]].strip()
        c = cells[layout.positions["debit_credit.credit_amount"]].strip()
        names = (_column(layout, "debit_credit.debit_amount"), _column(layout, "debit_credit.credit_amount"))
        columns = f"columns {names[0]}, {names[1]}"
        if bool(d) == bool(c):
            which = "both" if d else "neither"
            raise _Reject(f"{which} debit and credit amount filled ({columns})")
        raw, debit, column = (
            (d, True, _column(layout, "debit_credit.debit_amount"))
            if d
            else (c, False, _column(layout, "debit_credit.credit_amount"))
        )
    else:
        raw, column = values["amount"], _column(layout, "amount")
        if isinstance(dc, DebitCreditIndicator):
            flag = cells[layout.positions["debit_credit.indicator"]].strip()
            if flag not in (*dc.debit, *dc.credit):
                raise _Reject(
                    f"debit/credit indicator {flag!r} is neither debit {dc.debit} nor credit {dc.credit}"
                    f" (column {_column(layout, 'debit_credit.indicator')})"
                )
            debit = flag in dc.debit
    if not raw:
        raise _Reject(f"amount is empty (column {column})")
    if not re.fullmatch(_number_pattern(fmt)[1:-1], raw):
        if fmt.amount_unit == "minor" and re.fullmatch(
            _number_pattern(fmt.model_copy(update={"amount_unit": "major"}))[1:-1], raw
        ):
            raise _Reject(f"amount {raw!r} is not a whole number of minor units (column {column})")
        raise _Reject(f"amount {raw!r} is not a number (column {column})")
    text = raw.replace(fmt.thousands, "") if fmt.thousands else raw
    try:
        amount = Decimal(text.replace(",", ".") if fmt.decimal == "," else text)
    except InvalidOperation:
        raise _Reject(f"amount {raw!r} is not a number (column {column})") from None
    exponent = fmt.currencies.exponent(currency)
    if fmt.amount_unit == "minor":
        amount = amount.scaleb(-exponent)
    elif -amount.as_tuple().exponent > exponent:  # type: ignore[operator]
        rule = decimals_rule(currency, exponent, fmt.currencies)
        raise _Reject(f"amount {raw!r} has more decimals than {rule} (column {column})")
    return -amount if debit else amount


def _scalar_time(fmt: CsvFormat, layout: CsvLayout, raw: str, zone: ZoneInfo) -> datetime:
    column = _column(layout, "occurred_at")
    formats = [f for f in (fmt.datetime_format, fmt.date_format) if f]
    moment = None
    for form in formats:
        try:
            moment = datetime.strptime(raw, form)
            break
        except ValueError:
            continue
    if not formats:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            moment = None
    if moment is None:
        expected = " or ".join(formats) or "ISO 8601"
        raise _Reject(f"occurred_at {raw!r} is not a timestamp ({expected}) (column {column})")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)

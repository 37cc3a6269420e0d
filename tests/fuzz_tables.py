"""Hostile customer files for the fuzz test: strategies, and the builder that writes them.

A `HostileFile` is a plain description (its repr is the reproduction recipe): a demo table from
`generate_customers(rows, seed)`, a list of changes to its frame, a file format and, for CSV,
changes to the text and the bytes. `write_file` turns it into a file and says how many customers
(non-blank rows) the file holds, by reading it back with the standard library, not the product.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import polars as pl
from hypothesis import strategies as st

from aura_sentinel.demo import generate_customers

T = TypeVar("T")
Format = Literal["csv", "xls", "xlsx", "parquet"]
Cell = str | float | int | bool | None

# The Telco columns the tool reads, and the optional retention-state columns.
TELCO_COLUMNS = (
    "customerID",
    "Churn",
    "tenure",
    "MonthlyCharges",
    "TotalCharges",
    "Contract",
    "InternetService",
)
STATE_COLUMNS = ("recent_interventions", "days_since_contact", "response_rate", "engagement")
TARGET_COLUMNS = TELCO_COLUMNS + STATE_COLUMNS

# Python's str.strip() also strips \x1c-\x1f, which are not Unicode White_Space (Rust's trim).
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

HOSTILE_TEXTS = (
    "",
    " ",
    "\u3000",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e300",
    "-1e300",
    "1e309",
    "-0.0",
    "5e-324",
    "1e-310",
    "0x10",
    "1,5",
    "1_000",
    "\u0661\u0662",  # Arabic-Indic digits
    " 12 ",
    "12.5",
    "-5",
    "999999999999999999999999",
    "=SUM(1)",
    "@x",
    "+1",
    "-1",
    "Yes",
    "No",
    "yes",
    "TRUE",
    "None",
    "null",
    "NA",
    "N/A",
    "Month-to-month",
    "Two year",
    "Fiber optic",
    "\u00fcn\u00efc\u00f6d\u00e9",
    "\u540d\u524d",
    "\U0001f642",
    "\u200b",
    "a\nb",
    'q"uote',
    "a,b;c\td|e",
    "x" * 70_000,
    "y" * 1_000_000,
    "9" * 400,
)
HOSTILE_NUMBERS = (
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    -1e300,
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    0.0,
    -1.0,
    0.5,
    1.5,
    1e15,
    73,
    10_000,
    2**63 - 1,
    -(2**63),
)
HOSTILE_NAMES = (
    "",
    " ",
    "ChurnProbability",
    "RiskLevel",
    "CustomerID",
    "TopDrivers",
    "ActionID",
    "customerid",
    "Churn ",
    "\ufefftenure",
    "=SUM(1)",
    "@x",
    "+cmd",
    "\u540d\u524d",
    "\u00fcn\u00efc\u00f6d\u00e9",
    "a,b",
    'q"n',
    "a\nb",
    "n" * 300,
    "tenure",
    "Contract",
)
CAST_KINDS = (
    "int8",
    "uint64",
    "float32",
    "bool",
    "date",
    "datetime",
    "duration",
    "time",
    "categorical",
    "enum",
    "null",
    "decimal",
    "binary",
    "list",
    "struct",
)
NESTED_KINDS = ("binary", "list", "struct")  # only Parquet holds these


@dataclass(frozen=True)
class SetCells:
    """Put `value` in `column` at the given rows (modulo the height), creating the column."""

    column: str
    value: Cell
    rows: tuple[int, ...]


@dataclass(frozen=True)
class CastColumn:
    column: str
    kind: str


@dataclass(frozen=True)
class DropColumn:
    column: str


@dataclass(frozen=True)
class KeepOnly:
    """Keep this column alone (when the table has it)."""

    column: str


@dataclass(frozen=True)
class Widen:
    """Add `columns` small integer columns."""

    columns: int


@dataclass(frozen=True)
class AppendRows:
    """Append copies of the first row (repeated ids), or rows with every cell empty."""

    count: int
    blank: bool


Change = SetCells | CastColumn | DropColumn | KeepOnly | Widen | AppendRows


@dataclass(frozen=True)
class TextChanges:
    """Changes only a CSV file can carry."""

    separator: str = ","
    encoding: str = "utf-8"  # also utf-8-sig, latin-1, utf-16
    line_end: str = "\n"
    ragged_row: int | None = None  # this body row gets `ragged_by` fields more (or fewer)
    ragged_by: int = 1
    whitespace_rows: int = 0  # rows of separators and spaces only, inserted mid-file
    header_only: bool = False
    nul_at: float | None = None  # a NUL byte at this share of the file
    bad_byte_late: bool = False  # one byte that is not UTF-8 beyond the first 64 KB
    unclosed_quote: bool = False
    empty_file: bool = False


@dataclass(frozen=True)
class HostileFile:
    rows: int
    seed: int
    state_columns: bool
    changes: tuple[Change, ...]
    file_format: Format
    names: tuple[tuple[int, str], ...] = ()  # header renames: (column index, new name)
    text: TextChanges = field(default_factory=TextChanges)
    pyarrow: bool = False  # Parquet written by pyarrow (allows duplicate names)
    file_name: str = "customers"


def base_frame(spec: HostileFile) -> pl.DataFrame:
    frame = generate_customers(max(spec.rows, 1), spec.seed)
    if spec.state_columns:
        index = pl.int_range(pl.len())
        frame = frame.with_columns(
            recent_interventions=(index % 5),
            days_since_contact=(index * 37 % 400),
            response_rate=((index % 11) / 10.0),
            engagement=((index % 7) / 6.0),
        )
    return frame


def apply_change(frame: pl.DataFrame, change: Change) -> pl.DataFrame:
    if isinstance(change, SetCells):
        return _set_cells(frame, change)
    if isinstance(change, CastColumn):
        return _cast(frame, change) if change.column in frame.columns else frame
    if isinstance(change, DropColumn):
        return frame.drop(change.column, strict=False)
    if isinstance(change, KeepOnly):
        return frame.select(change.column) if change.column in frame.columns else frame
    if isinstance(change, Widen):
        index = pl.int_range(pl.len())
        return frame.with_columns((index + k).alias(f"extra_{k}") for k in range(change.columns))
    if change.blank:
        blank = pl.DataFrame({name: [None] * change.count for name in frame.columns})
        return pl.concat([frame, blank.cast(frame.schema)], how="vertical")
    return pl.concat([frame, *([frame.head(1)] * change.count)], how="vertical")


def _set_cells(frame: pl.DataFrame, change: SetCells) -> pl.DataFrame:
    column, value = change.column, change.value
    if column not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias(column))
    at = pl.int_range(pl.len()).is_in([row % max(frame.height, 1) for row in change.rows])
    dtype = _cell_dtype(frame.schema[column], value)
    literal = pl.lit(value if value is None or dtype != pl.String else str(value))
    old = pl.col(column).cast(dtype, strict=False)
    return frame.with_columns(pl.when(at).then(literal.cast(dtype)).otherwise(old).alias(column))


def _cell_dtype(dtype: pl.DataType, value: Cell) -> pl.DataType:
    """The column's type after `value` is put in: itself when it holds the value, else text."""
    if value is None:
        return dtype
    if isinstance(value, bool):
        return dtype if dtype == pl.Boolean else pl.String()
    if isinstance(value, int | float) and dtype.is_numeric():
        return pl.Float64()
    return pl.String()


def _cast(frame: pl.DataFrame, change: CastColumn) -> pl.DataFrame:
    column = pl.col(change.column)
    index = pl.int_range(pl.len())
    day = pl.lit(dt.date(2020, 1, 1)) + pl.duration(days=index)
    text = column.cast(pl.String)
    number = text.cast(pl.Float64, strict=False)
    casts: dict[str, pl.Expr] = {
        "int8": number.cast(pl.Int8, strict=False),
        "uint64": number.abs().cast(pl.UInt64, strict=False),
        "float32": number.cast(pl.Float32),
        "bool": text == text.first(),
        "date": day,
        "datetime": pl.lit(dt.datetime(2020, 1, 1, 12, 30)) + pl.duration(hours=index),
        "duration": pl.duration(days=index, seconds=index),
        "time": pl.lit(dt.time(12, 30)),
        "categorical": text.cast(pl.Categorical),
        "enum": text.cast(
            pl.Enum(
                sorted(set(frame.get_column(change.column).cast(pl.String).drop_nulls().to_list()))
            )
        ),
        "null": pl.lit(None),
        "decimal": number.cast(pl.Decimal(20, 4), strict=False),
        "binary": text.cast(pl.Binary),
        "list": pl.concat_list(column),
        "struct": pl.struct(column),
    }
    return frame.with_columns(casts[change.kind].alias(change.column))


def final_frame(spec: HostileFile) -> pl.DataFrame:
    frame = base_frame(spec)
    for change in spec.changes:
        try:
            frame = apply_change(frame, change)
        except pl.exceptions.PolarsError:  # e.g. a cast from a list column: the change is skipped
            continue
    if spec.rows == 0:
        frame = frame.clear()
    return frame


def header(spec: HostileFile, frame: pl.DataFrame) -> list[str]:
    names = list(frame.columns)
    for index, name in spec.names:
        if names:
            names[index % len(names)] = name
    return names


class Unwritable(Exception):
    """This combination cannot be written in this format (a limit of the writer, not a bug)."""


def write_file(spec: HostileFile, folder: Path) -> tuple[Path, int | None]:
    """Write the file; return its path and the number of non-blank rows (None: unknowable)."""
    suffix = {"csv": ".csv", "xls": ".xls", "xlsx": ".xlsx", "parquet": ".parquet"}
    path = folder / (spec.file_name + suffix[spec.file_format])
    frame = final_frame(spec)
    names = header(spec, frame)
    try:
        if spec.file_format == "csv":
            data = csv_bytes(spec, frame, names)
            path.write_bytes(data)
            return path, csv_customers(data, spec.text)
        if spec.file_format == "parquet":
            _write_parquet(frame, names, path, spec.pyarrow)
        elif spec.file_format == "xlsx":
            if len(set(names)) < len(names):
                raise Unwritable("xlsx needs unique names")
            frame.rename(dict(zip(frame.columns, names, strict=True))).write_excel(path)
        else:
            _write_xls(frame, names, path)
    except Unwritable:
        raise
    except Exception as error:  # a writer's limit: xlwt's 256 columns, xlsxwriter's NaN, ...
        raise Unwritable(f"{type(error).__name__}: {error}") from error
    return path, _frame_customers(frame)


def _frame_customers(frame: pl.DataFrame) -> int:
    if frame.width == 0:
        return 0
    blank = [
        pl.col(name).is_null()
        | (pl.col(name).str.strip_chars(WHITE_SPACE) == "" if dtype == pl.String else False)
        for name, dtype in frame.schema.items()
    ]
    blank_rows: int = frame.select(pl.all_horizontal(blank).sum()).item()
    return frame.height - blank_rows


def _write_parquet(frame: pl.DataFrame, names: list[str], path: Path, with_pyarrow: bool) -> None:
    if not with_pyarrow:
        if len(set(names)) < len(names):
            raise Unwritable("polars frames need unique names")
        frame.rename(dict(zip(frame.columns, names, strict=True))).write_parquet(path)
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = frame.to_arrow()
    pq.write_table(pa.Table.from_arrays(table.columns, names=names), path)


def _write_xls(frame: pl.DataFrame, names: list[str], path: Path) -> None:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("customers")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD hh:mm")
    for column_index, name in enumerate(names):
        sheet.write(0, column_index, name)
        for row_index, value in enumerate(frame.to_series(column_index).to_list(), start=1):
            if value is None:
                continue
            if isinstance(value, dt.date | dt.datetime):
                sheet.write(row_index, column_index, value, date_style)
            elif isinstance(value, bool | int | float | str):
                sheet.write(row_index, column_index, value)
            else:
                sheet.write(row_index, column_index, str(value))
    book.save(str(path))


def csv_bytes(spec: HostileFile, frame: pl.DataFrame, names: list[str]) -> bytes:
    text = spec.text
    if text.empty_file:
        return b""
    if any(dtype.is_nested() or dtype == pl.Binary for dtype in frame.dtypes):
        raise Unwritable("CSV holds no nested or binary columns")
    as_text = [
        pl.col(name).dt.to_string("iso") if dtype == pl.Duration else pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
    ]
    cells = frame.select(as_text).rows()
    rows: list[list[str | None]] = [list(row) for row in cells]
    if text.header_only:
        rows = []
    if text.ragged_row is not None and rows:
        row = rows[text.ragged_row % len(rows)]
        if text.ragged_by > 0:
            row.extend(["extra"] * text.ragged_by)
        else:
            del row[text.ragged_by :]
    for k in range(text.whitespace_rows):
        rows.insert(min(k * 3, len(rows)), [" "] * max(frame.width, 1))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=text.separator, lineterminator=text.line_end)
    writer.writerow(names)
    writer.writerows(rows)
    body = buffer.getvalue()
    if text.unclosed_quote and rows:
        body = body + '"never closed' + text.line_end
    data = body.encode(text.encoding, errors="replace")
    if text.bad_byte_late:
        data = data + b"#" * max(0, 66_000 - len(data)) + b"\xff" + text.line_end.encode()
    if text.nul_at is not None and data:
        at = int(text.nul_at * (len(data) - 1))
        data = data[:at] + b"\x00" + data[at:]
    return data


def csv_customers(data: bytes, text: TextChanges) -> int | None:
    """Non-blank rows after the header, read by Python's csv module (None if it cannot)."""
    try:
        decoded = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(decoded, newline=""), delimiter=text.separator))
    except (UnicodeDecodeError, csv.Error):
        return None
    return sum(1 for row in rows[1:] if any(cell.strip(WHITE_SPACE) for cell in row))


# Strategies ------------------------------------------------------------------------------------

_columns = st.sampled_from(TARGET_COLUMNS) | st.sampled_from(("gender", "PaymentMethod", "notes"))
_values: st.SearchStrategy[Cell] = st.one_of(
    st.sampled_from(HOSTILE_TEXTS),
    st.sampled_from(HOSTILE_NUMBERS),
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(),
)
_rows = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=4).map(tuple)


def changes(file_format: Format, widest: int = 3000) -> st.SearchStrategy[Change]:
    kinds = CAST_KINDS if file_format == "parquet" else CAST_KINDS[: -len(NESTED_KINDS)]
    widest = widest if file_format in ("csv", "parquet") else min(widest, 200)  # xls: 256
    return st.one_of(
        st.builds(SetCells, _columns, _values, _rows),
        st.builds(SetCells, _columns, _values, _rows),  # the most useful change: twice as often
        st.builds(CastColumn, _columns, st.sampled_from(kinds)),
        st.builds(DropColumn, _columns),
        st.builds(KeepOnly, _columns),
        st.builds(Widen, st.integers(min_value=1, max_value=widest)),
        st.builds(AppendRows, st.integers(min_value=1, max_value=3), st.booleans()),
    )


_file_names = st.sampled_from(
    (
        "customers",
        "customers",
        "customers",
        "my customers",
        "[x] *a?b",
        "\u00fcn\u00efc\u00f6d\u00e9 \u540d\u524d",
        "c" * 240,  # with its suffix near the 255-byte limit; its output names go beyond it
        "x.parquet.csv",
        "-dash",
    )
)


def sometimes(strategy: st.SearchStrategy[T], default: T, share: int) -> st.SearchStrategy[T]:
    """A draw from `strategy` about once in `share`, else `default` (also the simplest)."""
    return st.integers(min_value=1, max_value=share).flatmap(
        lambda n: strategy if n == share else st.just(default)
    )


CSV_DEFECTS = (
    "ragged: more fields",
    "not UTF-8: latin-1",
    "not UTF-8: utf-16",
    "NUL byte",
    "bad byte after 64 KB",
    "header only",
    "empty file",
    "unclosed quote",
)


@st.composite
def text_changes(draw: st.DrawFn) -> TextChanges:
    """Valid CSV variations, and about one time in three one defect."""
    defect = draw(sometimes(st.sampled_from(CSV_DEFECTS), "", 3))
    ragged = draw(sometimes(st.integers(min_value=0, max_value=500), None, 4))
    return TextChanges(
        separator=draw(st.sampled_from((",", ";", "\t", "|"))),
        encoding=(
            defect.removeprefix("not UTF-8: ")
            if defect.startswith("not UTF-8")
            else draw(st.sampled_from(("utf-8", "utf-8-sig")))
        ),
        line_end=draw(st.sampled_from(("\n", "\r\n"))),
        ragged_row=draw(st.integers(min_value=0, max_value=500)) if "ragged" in defect else ragged,
        ragged_by=draw(st.sampled_from((1, 2))) if "ragged" in defect else -1,
        whitespace_rows=draw(st.sampled_from((0, 0, 0, 1, 3))),
        header_only=defect == "header only",
        nul_at=draw(st.floats(0.0, 1.0)) if defect == "NUL byte" else None,
        bad_byte_late=defect == "bad byte after 64 KB",
        unclosed_quote=defect == "unclosed quote",
        empty_file=defect == "empty file",
    )


DEMO_ROWS = st.integers(min_value=0, max_value=60)


@st.composite
def hostile_files(
    draw: st.DrawFn,
    rows: st.SearchStrategy[int] = DEMO_ROWS,
    widest: int = 3000,
    formats: tuple[Format, ...] = ("csv", "parquet", "xlsx", "xls"),
) -> HostileFile:
    """A demo table with up to three hostile changes, most often as CSV."""
    file_format = draw(st.sampled_from(formats) | st.just(formats[0]))
    return HostileFile(
        rows=draw(rows),
        seed=draw(st.integers(min_value=0, max_value=2**16)),
        state_columns=draw(st.booleans()),
        changes=tuple(draw(st.lists(changes(file_format, widest), max_size=3))),
        file_format=file_format,
        names=tuple(
            draw(
                sometimes(
                    st.lists(
                        st.tuples(
                            st.integers(min_value=0, max_value=60),
                            st.sampled_from(HOSTILE_NAMES) | st.text(max_size=8),
                        ),
                        min_size=1,
                        max_size=2,
                    ),
                    [],
                    4,
                )
            )
        ),
        text=draw(text_changes()) if file_format == "csv" else TextChanges(),
        pyarrow=draw(st.booleans()) if file_format == "parquet" else False,
        file_name=draw(_file_names),
    )

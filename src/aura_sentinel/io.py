"""Reading customer files by their content, and writing files atomically.

The format is decided by the first bytes of the file, never by its name: the old system's
`dataset.xls` is CSV text under an `.xls` name.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime
import hashlib
import importlib.util
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

import polars as pl

from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.outputs import check_outputs, replaced_together
from aura_sentinel.sheet_size import check_sheet_size

Format = Literal["csv", "xls", "xlsx", "parquet"]

_PARQUET_MAGIC = b"PAR1"
_ZIP_MAGIC = b"PK\x03\x04"  # .xlsx is a zip archive
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # BIFF .xls lives in an OLE2 compound file
_SNIFF_BYTES = 64 * 1024
_SEPARATORS = (",", ";", "\t", "|")


def sniff_format(path: Path) -> Format:
    """Tell the file's format from its first bytes; raise DataError for anything unreadable."""
    _check_readable_file(path)
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise DataError(
            str(path), "the file is empty", "give a file with a header row and customers"
        )
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head.startswith(_OLE2_MAGIC):
        return "xls"
    if b"\x00" not in head and not _is_utf8_prefix(head):
        raise _not_utf8(path)
    if b"\x00" in head:
        raise DataError(
            str(path),
            "not a CSV, Excel or Parquet file (binary content, or text that is not UTF-8)",
            "export the table as UTF-8 CSV, .xlsx, .xls or Parquet",
        )
    return "csv"


def json_layout(path: Path) -> Literal["json", "jsonl"] | None:
    """For a text file: "json" when its first character is '[' (one JSON array), "jsonl" when
    it is '{' (JSON Lines, one object a line); None otherwise (a CSV header)."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"["):
        return "json"
    return "jsonl" if head.startswith(b"{") else None


def read_customers(path: Path) -> pl.DataFrame:
    """Read a customer table from CSV, BIFF .xls, .xlsx or Parquet, decided by content.

    Text cells are stripped of surrounding whitespace and blank cells become null; column types are
    left to the schema step, which knows each column's role. Excel error cells (#N/A) are blank;
    Excel dates stay dates (never numbers). A pipe or a device, and an .xlsx sheet spanning more
    than XLSX_MAX_CELLS cells, are refused before they are read.
    """
    file_format = sniff_format(path)
    reader = {"csv": _read_csv, "xls": _read_xls, "xlsx": _read_xlsx, "parquet": _read_parquet}
    try:
        frame = reader[file_format](path)
    except DataError:
        raise
    except Exception as exc:  # the readers raise many types; all mean "this file is damaged"
        raise _read_error(path, file_format, exc) from exc
    frame = tidy(frame, path)
    if frame.height == 0:
        raise _no_rows(path)
    return frame


def read_customer_batches(path: Path, batch_rows: int) -> Iterator[pl.DataFrame]:
    """Read a customer table in batches of `batch_rows` rows, tidied like `read_customers`.

    CSV and Parquet stream from disk, so memory stays bounded whatever the file size; Excel
    sheets (at most about a million rows) are read whole and then cut into batches.
    """
    file_format = sniff_format(path)
    try:
        rows = 0
        for batch in _raw_batches(path, file_format, batch_rows):
            tidied = tidy(batch, path)
            if tidied.height:
                rows += tidied.height
                yield tidied
        if rows == 0:
            raise _no_rows(path)
    except DataError:
        raise
    except Exception as exc:  # the readers raise many types; all mean "this file is damaged"
        raise _read_error(path, file_format, exc) from exc


def _raw_batches(path: Path, file_format: Format, batch_rows: int) -> Iterator[pl.DataFrame]:
    if file_format == "parquet":
        # One slice of rows at a time (Polars reads only the row groups a slice touches): the
        # peak memory does not grow with the file, as it did with Polars' streaming reader.
        lazy = pl.scan_parquet(path, glob=False)
        rows = lazy.select(pl.len()).collect().item()
        for offset in range(0, rows, batch_rows):
            yield lazy.slice(offset, batch_rows).collect()
    elif file_format == "csv":
        lazy = pl.scan_csv(
            path, infer_schema=False, separator=_csv_separator(path), encoding="utf8", glob=False
        )
        yield from lazy.collect_batches(chunk_size=batch_rows)
    else:
        yield from read_customers(path).iter_slices(batch_rows)


def _read_error(path: Path, file_format: Format, exc: Exception) -> DataError:
    if file_format == "csv" and "more fields" in str(exc):
        return DataError(
            str(path), _ragged_row(path, _csv_separator(path)), "fix that row or export it again"
        )
    if file_format == "csv" and "utf-8" in str(exc).lower():
        return _not_utf8(path)
    return damaged_file(path, file_format, exc)


def _not_utf8(path: Path) -> DataError:
    return DataError(
        str(path),
        f"{_undecodable_row(path)} is not UTF-8 text",
        "export the table again as UTF-8 CSV (or as .xlsx or Parquet)",
    )


def _undecodable_row(path: Path) -> str:
    """The first row holding bytes that are not UTF-8, found by reading the file line by line
    (only once a reader has failed). A line ending inside quotes does not end the row: with
    quotes escaped by doubling, a line with an odd number of quotes opens or closes one."""
    row = 0  # the header
    quoted = False
    with path.open("rb") as handle:
        for line in handle:  # a line break never falls inside a UTF-8 character
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return f"row {row} after the header" if row else "the header row"
            quoted ^= line.count(b'"') % 2 == 1
            row += 0 if quoted else 1
    return "a row"


def damaged_file(path: Path, file_format: str, exc: Exception) -> DataError:
    return DataError(
        str(path),
        f"cannot be read as {file_format.upper()}: {_first_line(exc)}",
        "check that the file is complete and not damaged, or export it again",
    )


def _no_rows(path: Path) -> DataError:
    return DataError(str(path), "has a header row but no customers", "give a file with data rows")


def _check_readable_file(path: Path) -> None:
    """Refuse anything but a regular file (a symlink to one is fine) before it is opened:
    reading a named pipe or a device such as /dev/zero would wait or run forever."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataError(str(path), "no such file", "check the path") from None
    except OSError as error:
        raise DataError(
            str(path), f"cannot be read ({error.strerror})", "check the path and its permissions"
        ) from error
    if stat.S_ISDIR(mode):
        raise DataError(str(path), "is a folder, not a file", "give the path of a customer file")
    if not stat.S_ISREG(mode):
        raise DataError(
            str(path),
            "is not a regular file (a named pipe, a device or a socket)",
            "save the table to a file and give that file's path",
        )


def _is_utf8_prefix(head: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut at the end of the sample is fine
    except UnicodeDecodeError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def _csv_fields_unlimited() -> Iterator[None]:
    """Lift the csv module's limit on a field's size (128 KB) while a file is read again to
    name a row: Polars reads larger cells. The limit is process-wide, so it is put back."""
    limit = csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _csv_separator(path: Path) -> str:
    """The header's separator; also refuses duplicate names, which Polars would rename."""
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace")
    separator = max(_SEPARATORS, key=header.count)
    with _csv_fields_unlimited():
        names = next(csv.reader([header], delimiter=separator), [])
    _check_names([name.lstrip("\ufeff").strip() for name in names], path)
    return separator


def _ragged_row(path: Path, separator: str) -> str:
    """Where a CSV row has more fields than the header (read again only to name the row)."""
    with (
        _csv_fields_unlimited(),
        path.open(encoding="utf-8", errors="replace", newline="") as handle,
    ):
        rows = csv.reader(handle, delimiter=separator)
        width = len(next(rows, []))
        for number, row in enumerate(rows, start=1):
            if len(row) > width:
                return f"row {number} after the header has {len(row)} fields, the header {width}"
    return "a row has more fields than the header"


def _read_csv(path: Path) -> pl.DataFrame:
    # Everything is read as text; the schema step turns number columns into numbers.
    return pl.read_csv(
        path, infer_schema=False, separator=_csv_separator(path), encoding="utf8", glob=False
    )


def _read_parquet(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path, glob=False)


def _read_xlsx(path: Path) -> pl.DataFrame:
    import fastexcel

    check_sheet_size(path)
    try:
        frame = pl.read_excel(
            path, engine="calamine", infer_schema_length=None, raise_if_empty=False
        )
    except fastexcel.UnsupportedColumnTypeCombinationError:
        # A column mixing durations (times such as 5:30) with numbers or text: every cell as
        # its text, which the schema step reads as it reads a CSV.
        frame = pl.read_excel(
            path,
            engine="calamine",
            raise_if_empty=False,
            read_options={"dtypes": "string"},
        )
    if frame.width == 0:
        raise DataError(str(path), "the first sheet is empty", "put the table in the first sheet")
    return frame


def _read_xls(path: Path) -> pl.DataFrame:
    import xlrd

    book = xlrd.open_workbook(str(path), on_demand=True)
    sheet = book.sheet_by_index(0)
    if sheet.nrows == 0:
        raise DataError(str(path), "the first sheet is empty", "put the table in the first sheet")
    names = [
        _cell_text(value, kind, book.datemode)
        for value, kind in zip(sheet.row_values(0), sheet.row_types(0), strict=True)
    ]
    columns: dict[str, pl.Series] = {}
    for index, name in enumerate(names):
        values = sheet.col_values(index, start_rowx=1)
        kinds = sheet.col_types(index, start_rowx=1)
        columns[name] = _xls_column(name, values, kinds, book.datemode)
    return pl.DataFrame(columns)


def _xls_column(name: str, values: list[object], kinds: list[int], datemode: int) -> pl.Series:
    """One sheet column: numbers, dates (a Datetime column), or text when the kinds are mixed.

    An error cell (#N/A, #DIV/0!, ...) is a missing value, as calamine reads it in .xlsx; its
    error code is never read as a number. A date cell is never a number: in a column of dates
    it is a date, among other cells its text (2020-01-31).
    """
    import xlrd

    missing = {xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR}
    present = {kind for kind in kinds if kind not in missing}
    cells = zip(values, kinds, strict=True)
    if present <= {xlrd.XL_CELL_NUMBER}:
        numbers = [None if kind in missing else value for value, kind in cells]
        return pl.Series(name, numbers, dtype=pl.Float64)
    if present == {xlrd.XL_CELL_DATE}:
        dates = [None if kind in missing else _xls_date(value, datemode) for value, kind in cells]
        return pl.Series(name, dates, dtype=pl.Datetime("ms"))
    texts = [
        None if kind in missing else _cell_text(value, kind, datemode) for value, kind in cells
    ]
    return pl.Series(name, texts, dtype=pl.String)


def _xls_date(value: object, datemode: int) -> datetime.datetime | None:
    import xlrd

    try:
        return xlrd.xldate_as_datetime(value, datemode)  # type: ignore[no-any-return]
    except (TypeError, ValueError):  # xlrd's XLDateError is a ValueError
        return None  # a date the sheet cannot hold, such as a negative one


def _cell_text(value: object, kind: int, datemode: int = 0) -> str:
    import xlrd

    if kind == xlrd.XL_CELL_NUMBER and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "True" if value else "False"
    if kind == xlrd.XL_CELL_DATE:
        date = _xls_date(value, datemode)
        if date is not None:
            return date.date().isoformat() if date.time() == datetime.time() else str(date)
    return str(value)


def tidy(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Strip names and text cells, turn blank text into null, refuse unusable headers.

    Categorical and Enum columns (what pandas writes for `category`) become text: their values
    are categories, like any text column's.
    """
    names = [name.lstrip("\ufeff").strip() for name in frame.columns]
    blank = [index + 1 for index, name in enumerate(names) if not name]
    if blank:
        raise DataError(
            str(path),
            f"column {blank[0]} has no name in the header row",
            "give every column a name in the first row",
        )
    _check_names(names, path)
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    categorical = [
        name for name, dtype in frame.schema.items() if isinstance(dtype, (pl.Categorical, pl.Enum))
    ]
    frame = frame.with_columns(pl.col(categorical).cast(pl.String))
    text = pl.col(pl.String).str.strip_chars()  # one expression for all text columns
    frame = frame.with_columns(pl.when(text != "").then(text))
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines are not customers


def _check_names(names: list[str], path: Path) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        shown = ", ".join(name if name else "(blank)" for name in duplicates)
        raise DataError(
            str(path), f"duplicate column names: {shown}", "give every column a unique name"
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None], reads: Iterable[Path] = ()) -> None:
    """Call `write` on a temporary file beside `path`, then rename it into place.

    `reads` are the files the command reads: `path` may not be one of them. A failure or an
    interruption leaves any existing file at `path` untouched and no temporary file behind.
    """
    with replaced_together(reads, [path]) as staged:
        write(staged[path])


TABLE_SUFFIXES = (".csv", ".parquet", ".xls")


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write a frame atomically as CSV, Parquet or BIFF .xls, chosen by the file's suffix."""
    write_tables({path: frame})


def write_tables(tables: dict[Path, pl.DataFrame]) -> None:
    """Write several frames as `write_table` does, replaced together: all of them or none."""
    for path, frame in tables.items():
        check_table_output(path, frame.height)
    with replaced_together((), list(tables)) as staged:
        for path, frame in tables.items():
            _write_frame(frame, path.suffix.lower(), staged[path])


def _write_frame(frame: pl.DataFrame, suffix: str, target: Path) -> None:
    if suffix == ".parquet":
        frame.write_parquet(target, statistics=False)
    elif suffix == ".xls":
        _write_xls(frame, target)
    else:
        frame.write_csv(target)


_XLS_MAX_ROWS = 65_535  # a BIFF8 sheet holds 65,536 rows, one of them the header


def check_table_output(path: Path, rows: int) -> None:
    """Refuse a table output that cannot be written, before the table is made."""
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise UsageError(str(path), f"unknown file type '{suffix}'", "use .csv, .parquet or .xls")
    check_outputs((), [path])
    if suffix != ".xls":
        return
    if importlib.util.find_spec("xlwt") is None:
        raise UsageError(
            str(path),
            "writing .xls needs the xlwt package",
            "pip install 'aura-sentinel[dev]', or write .csv or .parquet",
        )
    if rows > _XLS_MAX_ROWS:
        raise UsageError(
            str(path),
            f"{rows:,} rows do not fit in an .xls sheet (at most {_XLS_MAX_ROWS:,})",
            "write .csv or .parquet for large tables",
        )


def _write_xls(frame: pl.DataFrame, target: Path) -> None:
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("customers")
    for column_index, name in enumerate(frame.columns):
        sheet.write(0, column_index, name)
        for row_index, value in enumerate(frame.get_column(name).to_list(), start=1):
            if value is not None:
                sheet.write(row_index, column_index, value)
    book.save(str(target))

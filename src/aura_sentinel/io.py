"""Reading customer files by their content, and writing files atomically.

The format is decided by the first bytes of the file, never by its name: the old system's
`dataset.xls` is CSV text under an `.xls` name.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import importlib.util
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import polars as pl

from aura_sentinel.errors import DataError, UsageError

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
    if b"\x00" in head or not _is_utf8_prefix(head):
        raise DataError(
            str(path),
            "not a CSV, Excel or Parquet file (binary content, or text that is not UTF-8)",
            "export the table as UTF-8 CSV, .xlsx, .xls or Parquet",
        )
    return "csv"


def read_customers(path: Path) -> pl.DataFrame:
    """Read a customer table from CSV, BIFF .xls, .xlsx or Parquet, decided by content.

    Text cells are stripped of surrounding whitespace and blank cells become null; column types are
    left to the schema step, which knows each column's role.
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
    return damaged_file(path, file_format, exc)


def damaged_file(path: Path, file_format: Format, exc: Exception) -> DataError:
    return DataError(
        str(path),
        f"cannot be read as {file_format.upper()}: {_first_line(exc)}",
        "check that the file is complete and not damaged, or export it again",
    )


def _no_rows(path: Path) -> DataError:
    return DataError(str(path), "has a header row but no customers", "give a file with data rows")


def _check_readable_file(path: Path) -> None:
    if not path.exists():
        raise DataError(str(path), "no such file", "check the path")
    if path.is_dir():
        raise DataError(str(path), "is a folder, not a file", "give the path of a customer file")


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


def _csv_separator(path: Path) -> str:
    """The header's separator; also refuses duplicate names, which Polars would rename."""
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace")
    separator = max(_SEPARATORS, key=header.count)
    names = next(csv.reader([header], delimiter=separator), [])
    _check_names([name.lstrip("\ufeff").strip() for name in names], path)
    return separator


def _ragged_row(path: Path, separator: str) -> str:
    """Where a CSV row has more fields than the header (read again only to name the row)."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
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
    frame = pl.read_excel(path, engine="calamine", infer_schema_length=None)
    return frame


def _read_xls(path: Path) -> pl.DataFrame:
    import xlrd

    book = xlrd.open_workbook(str(path), on_demand=True)
    sheet = book.sheet_by_index(0)
    if sheet.nrows == 0:
        raise DataError(str(path), "the first sheet is empty", "put the table in the first sheet")
    names = [
        _cell_text(value, kind)
        for value, kind in zip(sheet.row_values(0), sheet.row_types(0), strict=True)
    ]
    columns: dict[str, pl.Series] = {}
    for index, name in enumerate(names):
        values = sheet.col_values(index, start_rowx=1)
        kinds = sheet.col_types(index, start_rowx=1)
        columns[name] = _xls_column(name, values, kinds)
    return pl.DataFrame(columns)


def _xls_column(name: str, values: list[object], kinds: list[int]) -> pl.Series:
    import xlrd

    empty = {xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK}
    if all(kind in empty or kind == xlrd.XL_CELL_NUMBER for kind in kinds):
        numbers = [
            None if kind in empty else value for value, kind in zip(values, kinds, strict=True)
        ]
        return pl.Series(name, numbers, dtype=pl.Float64)
    texts = [
        None if kind in empty else _cell_text(value, kind)
        for value, kind in zip(values, kinds, strict=True)
    ]
    return pl.Series(name, texts, dtype=pl.String)


def _cell_text(value: object, kind: int) -> str:
    import xlrd

    if kind == xlrd.XL_CELL_NUMBER and isinstance(value, float) and value.is_integer():
        return str(int(value))
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "True" if value else "False"
    return str(value)


def tidy(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Strip names and text cells, turn blank text into null, refuse unusable headers."""
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
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    frame = frame.with_columns(
        pl.col(name).str.strip_chars().replace("", None) for name in text_columns
    )
    return frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines are not customers


def _check_names(names: list[str], path: Path) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(
            str(path),
            f"duplicate column names: {', '.join(duplicates)}",
            "give every column a unique name",
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write` on a temporary file beside `path`, then rename it into place.

    A failure or an interruption leaves any existing file at `path` untouched and no temporary
    file behind.
    """
    if path.is_dir():
        raise UsageError(str(path), "is a folder", "give a file name for the output")
    if not path.parent.is_dir():
        raise UsageError(str(path), "its folder does not exist", "create the folder first")
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        write(temporary)
        os.replace(temporary, path)
    except OSError as error:
        raise _unwritable(path, error) from error
    finally:
        temporary.unlink(missing_ok=True)


def _unwritable(path: Path, error: OSError) -> UsageError:
    """A write that failed for the system's reasons: permissions, a full disk, a bad path."""
    reason = error.strerror or _first_line(error)
    return UsageError(
        str(path),
        f"cannot be written ({reason})",
        "check that you may write to its folder and that the disk has space; nothing was changed",
    )


@contextlib.contextmanager
def atomic_folder(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `path`; on success it replaces `path`.

    On any failure the temporary folder is removed and an existing `path` stays as it was.
    """
    token = uuid.uuid4().hex
    staging = path.parent / f".{path.name}.{token}.new"
    retired = path.parent / f".{path.name}.{token}.old"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as error:
        raise _unwritable(path, error) from error
    try:
        yield staging
        if path.exists():
            os.replace(path, retired)
        os.replace(staging, path)
    except BaseException as error:
        if retired.exists() and not path.exists():
            os.replace(retired, path)
        if isinstance(error, OSError):
            raise _unwritable(path, error) from error
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(retired, ignore_errors=True)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write a frame atomically as CSV, Parquet or BIFF .xls, chosen by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        atomic_write(path, lambda target: frame.write_parquet(target, statistics=False))
    elif suffix == ".xls":
        _check_fits_xls(frame, path)
        atomic_write(path, lambda target: _write_xls(frame, target))
    elif suffix == ".csv":
        atomic_write(path, lambda target: frame.write_csv(target))
    else:
        raise UsageError(str(path), f"unknown file type '{suffix}'", "use .csv, .parquet or .xls")


_XLS_MAX_ROWS = 65_535  # a BIFF8 sheet holds 65,536 rows, one of them the header


def _check_fits_xls(frame: pl.DataFrame, path: Path) -> None:
    if importlib.util.find_spec("xlwt") is None:
        raise UsageError(
            str(path),
            "writing .xls needs the xlwt package",
            "pip install 'aura-sentinel[dev]', or write .csv or .parquet",
        )
    if frame.height > _XLS_MAX_ROWS:
        raise UsageError(
            str(path),
            f"{frame.height:,} rows do not fit in an .xls sheet (at most {_XLS_MAX_ROWS:,})",
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

"""Hostile and careless input files: what is refused (one line, exit 2) and what is accepted.

Excel error and date cells, temporal, nested and categorical Parquet columns, NaN and huge
numbers, missing role columns, ragged rows with huge cells, pipes and devices, very wide
headers, late non-UTF-8 bytes, empty sheets and sheets that claim to be enormous.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as parquet
import pytest
import xlsxwriter
import xlwt

from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import DataError
from aura_sentinel.features import FeatureColumn, FeatureSpec
from aura_sentinel.io import read_customers
from aura_sentinel.retention.state import (
    SOURCE_COLUMNS,
    StateSources,
    build_state,
    check_state_columns,
    resolve_state_sources,
)
from aura_sentinel.schema import ColumnRoles, prepare_training_table

from conftest import REPO, run_cli

MODELS = REPO / "models"


def _by_default_names(frame: pl.DataFrame) -> StateSources:
    return resolve_state_sources(frame.columns, {}, "in.csv")


def _customers(rows: int = 300) -> pl.DataFrame:
    return generate_customers(rows, seed=3)


def _assert_refused(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and " — " in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr, result.stderr


def _score(data: Path, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    out = tmp_path / "results.csv"
    result = run_cli(
        "score", str(data), "--models", str(MODELS), "--out", str(out), "--quiet", *options
    )
    if result.returncode != 0:
        assert not out.exists()
    return result


def _train(data: Path, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    models = tmp_path / "trained"
    return run_cli(
        "train", str(data), "--models", str(models), "--skip-policy", "--folds", "2", *options
    )


def _write_xls(
    frame: pl.DataFrame, path: Path, cells: dict[tuple[int, str], Callable[..., None]]
) -> None:
    """Write `frame` as BIFF .xls; `cells[(row, column)]` writes that cell itself (row 0-based,
    after the header) as `write(sheet, sheet_row, sheet_column)`."""
    book = xlwt.Workbook()
    sheet = book.add_sheet("customers")
    for column_index, name in enumerate(frame.columns):
        sheet.write(0, column_index, name)
        for row_index, value in enumerate(frame.get_column(name).to_list()):
            special = cells.get((row_index, name))
            if special is not None:
                special(sheet, row_index + 1, column_index)
            elif value is not None:
                sheet.write(row_index + 1, column_index, value)
    book.save(str(path))


def _error_cell(code: str) -> Callable[..., None]:
    return lambda sheet, row, column: sheet.row(row).set_cell_error(column, code)


_DATE_STYLE = xlwt.easyxf(num_format_str="YYYY-MM-DD")


def _date_cell(day: int) -> Callable[..., None]:
    date = datetime.date(2021, 1, day)
    return lambda sheet, row, column: sheet.write(row, column, date, _DATE_STYLE)


# --- 1. Excel error cells and date cells ---------------------------------------------------------


def test_xls_error_cells_are_missing_values_not_their_error_codes(tmp_path: Path) -> None:
    frame = _customers(20)
    path = tmp_path / "errors.xls"
    # #DIV/0! has code 7 and #N/A code 42: numbers the old reader read into the column.
    _write_xls(
        frame, path, {(2, "tenure"): _error_cell("#DIV/0!"), (3, "tenure"): _error_cell(0x2A)}
    )
    tenure = read_customers(path).get_column("tenure")
    assert tenure.dtype == pl.Float64
    assert tenure[2] is None and tenure[3] is None
    assert tenure[0] == frame["tenure"][0]


def test_xls_error_cells_in_a_text_column_are_missing_values(tmp_path: Path) -> None:
    frame = _customers(20)
    path = tmp_path / "errors.xls"
    _write_xls(frame, path, {(4, "Contract"): _error_cell("#REF!")})
    contract = read_customers(path).get_column("Contract")
    assert contract[4] is None
    assert contract.drop_nulls().is_in(frame["Contract"].unique().to_list()).all()


def test_xlsx_error_cells_are_missing_values_as_in_xls(tmp_path: Path) -> None:
    path = tmp_path / "errors.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["customerID", "tenure", "Contract"])
    sheet.write_row(1, 0, ["a", 5, "One year"])
    sheet.write(2, 0, "b")
    sheet.write_formula(2, 1, "=1/0", None, "#DIV/0!")
    sheet.write_formula(2, 2, "=NA()", None, "#N/A")
    book.close()
    frame = read_customers(path)
    assert frame.get_column("tenure").to_list()[1] is None
    assert frame.get_column("Contract").to_list() == ["One year", None]


def test_xls_date_cells_are_dates_never_numbers(tmp_path: Path) -> None:
    frame = _customers(10).with_columns(pl.lit("x").alias("signup"))
    path = tmp_path / "dates.xls"
    _write_xls(frame, path, {(row, "signup"): _date_cell(row + 1) for row in range(10)})
    signup = read_customers(path).get_column("signup")
    assert signup.dtype.is_temporal()
    assert signup[0] == datetime.datetime(2021, 1, 1)


def test_xls_with_dates_in_tenure_is_refused_naming_the_column(tmp_path: Path) -> None:
    frame = _customers()
    path = tmp_path / "dates.xls"
    _write_xls(frame, path, {(row, "tenure"): _date_cell(row % 28 + 1) for row in range(300)})
    _assert_refused(
        _score(path, tmp_path),
        "column 'tenure' holds dates, not numbers",
        "give the number of months",
    )


def test_xls_with_one_date_among_numbers_is_refused_naming_its_row(tmp_path: Path) -> None:
    path = tmp_path / "one_date.xls"
    _write_xls(_customers(), path, {(6, "tenure"): _date_cell(5)})
    _assert_refused(
        _score(path, tmp_path), "column 'tenure': text '2021-01-05'", "row 7 after the header"
    )


def _xlsx_with_dates(path: Path, column: str, rows: list[int], time_format: str) -> None:
    """The customers as .xlsx, with date cells in `column` at the given rows (0-based)."""
    frame = _customers()
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    style = book.add_format({"num_format": time_format})
    sheet.write_row(0, 0, frame.columns)
    for row_index, row in enumerate(frame.iter_rows(), start=1):
        sheet.write_row(row_index, 0, row)
    position = frame.columns.index(column)
    for row in rows:
        sheet.write_datetime(row + 1, position, datetime.datetime(2021, 1, 5, 5, 30), style)
    book.close()


def test_xlsx_with_dates_in_tenure_is_refused_naming_the_column(tmp_path: Path) -> None:
    path = tmp_path / "dates.xlsx"
    _xlsx_with_dates(path, "tenure", list(range(300)), "yyyy-mm-dd")
    _assert_refused(_score(path, tmp_path), "column 'tenure' holds dates, not numbers")


def test_an_xlsx_time_among_numbers_is_read_as_text_not_a_number(tmp_path: Path) -> None:
    path = tmp_path / "time.xlsx"
    _xlsx_with_dates(path, "MonthlyCharges", [3], "[h]:mm")  # calamine reads a duration
    charges = read_customers(path).get_column("MonthlyCharges")
    assert charges.dtype == pl.String
    assert charges[3] is not None and ":" in charges[3]
    assert float(charges[4]) == pytest.approx(_customers()["MonthlyCharges"][4])


TEMPORAL_STATE_COLUMNS = {
    "tenure": (pl.Date, "holds dates, not numbers"),
    "MonthlyCharges": (pl.Duration("us"), "holds durations, not numbers"),
    "recent_interventions": (pl.Datetime("us"), "holds dates, not numbers"),
    "days_since_contact": (pl.Time, "holds times of day, not numbers"),
    "response_rate": (pl.Date, "holds dates, not numbers"),
    "engagement": (pl.Datetime("ms"), "holds dates, not numbers"),
}


def _temporal(dtype: pl.DataType, rows: int) -> pl.Series:
    if dtype == pl.Time:
        return pl.Series([datetime.time(1, 2)] * rows, dtype=pl.Time)
    if isinstance(dtype, pl.Duration):
        return pl.Series([datetime.timedelta(days=3)] * rows, dtype=dtype)
    return pl.Series([datetime.datetime(2021, 3, 4)] * rows).cast(dtype)


@pytest.mark.parametrize("column", ["tenure", "MonthlyCharges"])  # read by the shipped bundle
def test_parquet_temporal_state_columns_are_refused_at_score(column: str, tmp_path: Path) -> None:
    dtype, expected = TEMPORAL_STATE_COLUMNS[column]
    frame = _customers().with_columns(_temporal(dtype, 300).alias(column))
    path = tmp_path / "temporal.parquet"
    frame.write_parquet(path)
    _assert_refused(_score(path, tmp_path), f"column '{column}' {expected}")


def test_a_state_column_the_bundle_does_not_read_is_not_read_at_score(tmp_path: Path) -> None:
    # The shipped bundle was trained without days_since_contact: its column map reads none.
    dtype, _ = TEMPORAL_STATE_COLUMNS["days_since_contact"]
    frame = _customers().with_columns(_temporal(dtype, 300).alias("days_since_contact"))
    path = tmp_path / "temporal.parquet"
    frame.write_parquet(path)
    result = _score(path, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("column", list(TEMPORAL_STATE_COLUMNS))
def test_temporal_state_columns_are_refused_before_a_policy_is_trained(column: str) -> None:
    dtype, expected = TEMPORAL_STATE_COLUMNS[column]
    frame = _customers(20).with_columns(_temporal(dtype, 20).alias(column))
    with pytest.raises(DataError, match=f"column '{column}' {expected}"):
        # what `train` calls before the policy
        check_state_columns(frame, _by_default_names(frame), "in.parquet")


def _feature_names(models: Path) -> list[str]:
    manifest = json.loads((models / "bundle.json").read_text())
    return [column["name"] for column in manifest["features"]["columns"]]


def test_train_uses_categorical_columns_and_leaves_out_date_and_list_candidates(
    tmp_path: Path,
) -> None:
    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=day) for day in range(300)]
    frame = _customers().with_columns(
        pl.Series("signup", days), pl.Series("tags", [["a", "b"], ["c"]] * 150)
    )
    path = tmp_path / "mixed.parquet"
    _as_dictionary_parquet(frame, path)  # text as Parquet dictionaries, as pandas writes
    assert pl.read_parquet(path).schema["Contract"] == pl.Categorical
    result = _train(path, tmp_path)
    assert result.returncode == 0, result.stderr
    used = _feature_names(tmp_path / "trained")
    assert "Contract" in used and "PaymentMethod" in used and "tenure" in used
    assert "signup" not in used and "tags" not in used


# --- 2. NaN and huge numbers in the state ------------------------------------------------------

STATE_NUMBER_COLUMNS = [
    SOURCE_COLUMNS[role]
    for role in (
        "tenure",
        "recent_interventions",
        "days_since_contact",
        "response_rate",
        "engagement",
    )
]
EXTREMES = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308]


@pytest.mark.parametrize("column", STATE_NUMBER_COLUMNS)
@pytest.mark.parametrize("as_text", [False, True])
def test_the_state_is_finite_for_nan_infinite_and_huge_numbers(column: str, as_text: bool) -> None:
    values = pl.Series(column, [*EXTREMES, 3.0])
    frame = _customers(len(values)).with_columns(values.cast(pl.String) if as_text else values)
    state = build_state(frame, np.full(frame.height, 0.3), 0.3, _by_default_names(frame))
    assert state.dtype == np.float32
    assert np.isfinite(state).all()


def test_nan_in_a_state_column_takes_the_documented_default() -> None:
    frame = _customers(2).with_columns(
        pl.Series("engagement", [float("nan"), 0.8]),
        pl.Series("tenure", [float("nan"), 7.0]),
    )
    state = build_state(frame, np.full(2, 0.3), 0.3, _by_default_names(frame))
    assert state[0, -1] == pytest.approx(0.5)  # DEFAULT_ENGAGEMENT
    assert state[0, 3] == pytest.approx(12.0)  # DEFAULT_TENURE
    assert state[1, -1] == pytest.approx(0.8)


@pytest.mark.parametrize("charge", ["inf", "1e308", "-1e308"])
def test_huge_or_infinite_monthly_charges_are_refused_naming_the_row(charge: str) -> None:
    frame = _customers(10).with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit(charge))
        .otherwise(pl.col("MonthlyCharges").cast(pl.String))
        .alias("MonthlyCharges")
    )
    with pytest.raises(DataError, match="row 5 after the header"):
        check_state_columns(frame, _by_default_names(frame), "in.csv")


# --- 3. Numbers beyond float32 -----------------------------------------------------------------


def _with_cell(column: str, value: str, row: int) -> pl.DataFrame:
    return _customers().with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value))
        .otherwise(pl.col(column).cast(pl.String))
        .alias(column)
    )


def test_a_number_beyond_float32_is_refused_at_score_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    _with_cell("TotalCharges", "1e300", 7).write_csv(path)
    _assert_refused(
        _score(path, tmp_path), "column 'TotalCharges'", "too large", "row 8 after the header"
    )


def test_a_number_beyond_float32_names_the_file_row_in_later_batches(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    _with_cell("tenure", "-1e300", 250).write_csv(path)
    _assert_refused(
        _score(path, tmp_path, "--batch-rows", "100"),
        "column 'tenure'",
        "row 251 after the header",
    )


def test_a_number_beyond_float32_is_refused_at_train() -> None:
    frame = _with_cell("TotalCharges", "1e300", 7)
    with pytest.raises(DataError, match=r"column 'TotalCharges': value too large .*row 8 after"):
        prepare_training_table(frame, ColumnRoles(), "in.csv")


def test_nan_is_a_missing_value_not_a_number_too_large() -> None:
    frame = _with_cell("TotalCharges", "NaN", 7).with_columns(
        pl.lit(float("nan")).alias("MonthlyCharges")
    )
    table = prepare_training_table(frame, ColumnRoles(), "in.csv")
    assert table.features.get_column("TotalCharges").is_nan().sum() == 1
    # a NaN charge takes the default: not refused
    check_state_columns(frame, _by_default_names(frame), "in.csv")


# --- 4. Missing id and target columns ----------------------------------------------------------


@pytest.mark.parametrize("options", [(), ("--budget", "100")])
def test_score_without_the_bundles_id_column_is_one_line(
    options: tuple[str, ...], tmp_path: Path
) -> None:
    path = tmp_path / "no_id.csv"
    _customers().drop("customerID").write_csv(path)
    _assert_refused(_score(path, tmp_path, *options), "no id column 'customerID'", "add the")


def test_policy_only_without_the_target_column_is_one_line(tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    before = {path.name: path.read_bytes() for path in models.iterdir()}
    path = tmp_path / "no_target.csv"
    _customers().drop("Churn").write_csv(path)
    result = run_cli("train", str(path), "--models", str(models), "--policy-only")
    _assert_refused(result, "no target column 'Churn'")
    assert {path.name: path.read_bytes() for path in models.iterdir()} == before


# --- 5. Nested and categorical Parquet columns -------------------------------------------------


@pytest.mark.parametrize(
    ("column", "values", "expected"),
    [
        ("tenure", pl.Series([[1, 2]] * 300), "column 'tenure' holds lists, not numbers"),
        (
            "TotalCharges",
            pl.Series([[1.0]] * 300, dtype=pl.Array(pl.Float64, 1)),
            "column 'TotalCharges' holds lists, not numbers",
        ),
        (
            "Contract",
            pl.Series([{"a": 1}] * 300),
            "column 'Contract' holds structs (several values per cell), not categories",
        ),
    ],
)
def test_nested_parquet_columns_the_model_reads_are_refused(
    column: str, values: pl.Series, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "nested.parquet"
    _customers().with_columns(values.alias(column)).write_parquet(path)
    _assert_refused(_score(path, tmp_path), expected)


def _as_dictionary_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Text columns as Parquet dictionaries: what pandas writes for `category` columns."""
    table = frame.to_arrow()
    columns = [
        column.dictionary_encode()
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        else column
        for column in table.columns
    ]
    parquet.write_table(pa.table(columns, names=table.column_names), str(path))


def test_categorical_parquet_columns_score_as_their_text(tmp_path: Path) -> None:
    categorical, text = tmp_path / "categorical.parquet", tmp_path / "text.parquet"
    _as_dictionary_parquet(_customers(), categorical)
    _customers().write_parquet(text)
    outputs = []
    for data in (categorical, text):
        out = tmp_path / f"{data.stem}-results.csv"
        result = run_cli("score", str(data), "--models", str(MODELS), "--out", str(out), "--quiet")
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


# --- 6. Ragged rows with huge cells -----------------------------------------------------------


def test_a_ragged_row_after_a_huge_cell_is_named(tmp_path: Path) -> None:
    lines = _customers().write_csv().splitlines()
    fields = lines[3].split(",")
    fields[6] = "x" * 200_000  # beyond the csv module's default field limit (128 KB)
    lines[3] = ",".join(fields)
    lines[9] += ",extra"
    path = tmp_path / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    expected = "row 9 after the header has 22 fields, the header 21"
    _assert_refused(_score(path, tmp_path), expected)
    with pytest.raises(DataError, match=expected):  # the reader `train` uses
        read_customers(path)


# --- 7. Pipes, devices and symlinks ------------------------------------------------------------


def _run_with_timeout(*args: str) -> subprocess.CompletedProcess[str]:
    """Like `run_cli`, with a timeout: the old behaviour was to wait forever."""
    return subprocess.run(
        [sys.executable, "-m", "aura_sentinel", *args],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize("command", ["train", "score"])
def test_a_named_pipe_is_refused_without_waiting(command: str, tmp_path: Path) -> None:
    pipe = tmp_path / "customers.csv"
    os.mkfifo(pipe)
    out = tmp_path / ("models" if command == "train" else "results.csv")
    args = (
        ["--models", str(out)]
        if command == "train"
        else ["--models", str(MODELS), "--out", str(out)]
    )
    _assert_refused(_run_with_timeout(command, str(pipe), *args), "is not a regular file")
    assert not out.exists()


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = _run_with_timeout("score", "/dev/zero", "--models", str(MODELS), "--out", str(out))
    _assert_refused(result, "is not a regular file")


def test_a_symlink_to_a_customer_file_is_read(tmp_path: Path) -> None:
    target = tmp_path / "customers.csv"
    _customers().write_csv(target)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert _score(link, tmp_path).returncode == 0


# --- 8. Very wide headers ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "score"])
def test_a_100000_column_csv_with_a_duplicate_name_is_refused_quickly(
    command: str, tmp_path: Path
) -> None:
    names = [f"c{index}" for index in range(100_000)]
    names[-1] = "c5"
    path = tmp_path / "wide.csv"
    path.write_text(",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n")
    out = tmp_path / ("models" if command == "train" else "results.csv")
    args = (
        ["--models", str(out)]
        if command == "train"
        else ["--models", str(MODELS), "--out", str(out)]
    )
    # The old check took minutes; the timeout is a generous bound, not a speed target.
    _assert_refused(_run_with_timeout(command, str(path), *args), "duplicate column names: c5")


def test_the_model_matrix_of_a_20000_column_table_takes_linear_time() -> None:
    """Each column was looked up in a list rebuilt per column: minutes for this table."""
    width = 20_000
    frame = pl.DataFrame({f"c{index}": ["1", "2"] for index in range(width)})
    spec = FeatureSpec(
        tuple(
            FeatureColumn(f"c{index}", "number")
            if index % 2
            else FeatureColumn(f"c{index}", "category", ("1", "2"))
            for index in range(width)
        )
    )
    started = time.monotonic()
    matrix = spec.matrix(frame, "wide.csv")
    assert len(spec.level_codes(frame, matrix)) == width // 2
    assert time.monotonic() - started < 60  # a generous bound: a timeout, not a speed target


# --- 9. Non-UTF-8 bytes late in a CSV ------------------------------------------------------------


def _late_latin1(folder: Path) -> Path:
    frame = _customers(2000)
    lines = frame.write_csv().splitlines()
    # A quoted cell with a line break earlier on: it does not start a new row.
    fields = lines[2].split(",")
    fields[1] = '"two\nlines, ""quoted"""'
    lines[2] = ",".join(fields)
    lines[1500] = lines[1500].replace(",", "-é,", 1)  # in the customer id
    path = folder / "late.csv"
    text = "\n".join(lines) + "\n"
    assert text.index("é") > 64 * 1024
    path.write_bytes(text.encode("latin-1"))
    return path


def test_non_utf8_text_after_the_first_64_kb_names_its_row(tmp_path: Path) -> None:
    path = _late_latin1(tmp_path)
    expected = "row 1500 after the header is not UTF-8 text"
    _assert_refused(_score(path, tmp_path), expected)
    with pytest.raises(DataError, match=expected):  # the reader `train` uses
        read_customers(path)


def test_non_utf8_text_in_the_first_bytes_names_its_row(tmp_path: Path) -> None:
    path = tmp_path / "early.csv"
    path.write_bytes("customerID,Contract,Churn\na,One year,No\nb,Année,Yes\n".encode("latin-1"))
    _assert_refused(_score(path, tmp_path), "row 2 after the header is not UTF-8 text")


# --- 10. An empty first sheet --------------------------------------------------------------------


def test_an_xlsx_with_an_empty_first_sheet_says_so(tmp_path: Path) -> None:
    path = tmp_path / "empty_first.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("notes")
    book.add_worksheet("customers").write_row(0, 0, ["customerID", "tenure"])
    book.close()
    _assert_refused(
        _score(path, tmp_path), "the first sheet is empty — put the table in the first sheet"
    )


# --- 11. Sheets that claim or span enormous sizes -----------------------------------------------


def _far_cell_xlsx(folder: Path, name: str, change: Callable[[bytes], bytes] = lambda x: x) -> Path:
    """An .xlsx with cells at A1 and XFD1048576 (about 5 KB); `change` edits its sheet XML."""
    plain = folder / f"plain-{name}"
    book = xlsxwriter.Workbook(str(plain))
    sheet = book.add_worksheet()
    sheet.write(0, 0, "customerID")
    sheet.write(1048575, 16383, "far")
    book.close()
    path = folder / name
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = change(data)
            out.writestr(item.filename, data)
    plain.unlink()
    return path


_DIMENSION = b'<dimension ref="A1:XFD1048576"/>'
_MAIN_NAMESPACE = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _prefixed(xml: bytes) -> bytes:
    """The sheet with its main namespace bound to the prefix x: on every element."""
    declaration, body = xml.split(b"?>", 1)
    body = body.replace(b'<worksheet xmlns="', b'<worksheet xmlns:x="')
    return declaration + b"?>" + re.sub(rb"<(/?)(?=[a-z])", rb"<\1x:", body)


FAR_CELL_SHEETS: dict[str, Callable[[bytes], bytes]] = {
    "declared": lambda xml: xml,
    "without a dimension": lambda xml: xml.replace(_DIMENSION, b""),
    "with a small dimension that lies": lambda xml: xml.replace(
        _DIMENSION, b'<dimension ref="A1:A1"/>'
    ),
    "with the far cell in a lying row": lambda xml: xml.replace(
        _DIMENSION, b'<dimension ref="A1:A2"/>'
    ).replace(b'<row r="1048576"', b'<row r="2"'),
    "with the far cell under another namespace prefix": lambda xml: (
        xml.replace(_DIMENSION, b'<dimension ref="A1:A1"/>')
        .replace(b"<worksheet ", b'<worksheet xmlns:y="%s" ' % _MAIN_NAMESPACE)
        .replace(
            b'<c r="XFD1048576" t="s"><v>1</v></c>',
            b'<y:c r="XFD1048576" t="s"><y:v>1</y:v></y:c>',
        )
    ),
    "with every element prefixed": lambda xml: _prefixed(
        xml.replace(_DIMENSION, b'<dimension ref="A1:A1"/>')
    ),
    "with lower-case cell positions": lambda xml: xml.replace(
        _DIMENSION, b'<dimension ref="A1:A1"/>'
    ).replace(b'r="XFD1048576"', b'r="xfd1048576"'),
}


def test_an_xlsx_spanning_billions_of_cells_is_one_line_not_a_crash(tmp_path: Path) -> None:
    path = _far_cell_xlsx(tmp_path, "far.xlsx")
    assert path.stat().st_size < 10_000
    _assert_refused(
        _score(path, tmp_path),
        "declares 1,048,576 rows x 16,384 columns",
        "export the table as CSV or Parquet",
    )


@pytest.mark.parametrize("case", list(FAR_CELL_SHEETS))
def test_a_sheet_with_a_far_cell_is_refused_however_it_hides_it(case: str, tmp_path: Path) -> None:
    # In a process of its own: the old reader aborted the process asking for 512 GB.
    path = _far_cell_xlsx(tmp_path, "far.xlsx", FAR_CELL_SHEETS[case])
    check = (
        "import sys; from pathlib import Path; from aura_sentinel.io import read_customers\n"
        "from aura_sentinel.errors import DataError\n"
        "try: read_customers(Path(sys.argv[1]))\n"
        "except DataError as error: print(error)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-500:]
    assert "1,048,576 rows x 16,384 columns" in result.stdout
    assert "export the table as CSV or Parquet" in result.stdout


def test_a_far_cell_without_a_value_does_not_count(tmp_path: Path) -> None:
    """calamine skips cells without a value, so the exact count does too."""
    customers = _customers(20)
    path = tmp_path / "styled.xlsx"
    customers.write_excel(path)
    with zipfile.ZipFile(path) as archive:
        parts = {item.filename: archive.read(item.filename) for item in archive.infolist()}
    sheet = parts["xl/worksheets/sheet1.xml"]
    start = sheet.index(b"<dimension")
    sheet = sheet[:start] + sheet[sheet.index(b"/>", start) + 2 :]  # no dimension
    parts["xl/worksheets/sheet1.xml"] = sheet.replace(
        b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" s="1"/></row></sheetData>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    assert read_customers(path).height == 20


def test_an_xlsx_with_prefixed_elements_reads(tmp_path: Path) -> None:
    path = tmp_path / "prefixed.xlsx"
    _customers(30).write_excel(path)
    with zipfile.ZipFile(path) as archive:
        parts = {item.filename: archive.read(item.filename) for item in archive.infolist()}
    parts["xl/worksheets/sheet1.xml"] = _prefixed(parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    frame = read_customers(path)
    assert frame.get_column("customerID").to_list() == _customers(30)["customerID"].to_list()


def test_a_telco_like_xlsx_reads_as_written() -> None:
    customers = generate_customers(7043, seed=5)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "telco.xlsx"
        customers.write_excel(path)
        frame = read_customers(path)
    assert frame.shape == customers.shape
    assert frame.get_column("customerID").to_list() == customers["customerID"].to_list()
    assert frame.get_column("MonthlyCharges").to_list() == pytest.approx(
        customers["MonthlyCharges"].to_list()
    )


def test_a_telco_like_xlsx_scores(tmp_path: Path) -> None:
    path = tmp_path / "customers.xlsx"
    _customers().write_excel(path)
    assert _score(path, tmp_path).returncode == 0

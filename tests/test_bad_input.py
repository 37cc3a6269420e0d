"""The bad-input corpus: every command, every way a file can be wrong, through the command line.

Each bad case must end with exit code 2 (130 for Ctrl-C), one line on stderr that names the file,
column or row and says what to do, no traceback, no partial file, and every existing output (model
bundle, results, report) unchanged. Messy but valid files are accepted, and tested to be.
The corpus is generated here; nothing is committed.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from aura_sentinel.bundle import FORMAT_VERSION
from aura_sentinel.demo import generate_customers
from aura_sentinel.io import write_table

from conftest import REPO, run_cli

MODELS = REPO / "models"
Builder = Callable[[Path], Path]


def _customers() -> pl.DataFrame:
    return generate_customers(300, seed=3)


def _text(name: str, text: str | bytes) -> Builder:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    return build


def _changed(change: Callable[[pl.DataFrame], pl.DataFrame], name: str = "in.csv") -> Builder:
    def build(folder: Path) -> Path:
        path = folder / name
        change(_customers()).write_csv(path)
        return path

    return build


def _cell(
    column: str, value: str | None, row: int = 7, *more_rows: int
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """Set `column` to `value` in the given rows (0-based, after the header)."""

    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.when(pl.int_range(pl.len()).is_in([row, *more_rows]))
            .then(pl.lit(value, dtype=pl.String))
            .otherwise(pl.col(column).cast(pl.String))
            .alias(column)
        )

    return change


def _truncated(suffix: str) -> Builder:
    def build(folder: Path) -> Path:
        whole = folder / f"whole{suffix}"
        if suffix == ".xlsx":
            _customers().write_excel(whole)
        else:
            write_table(_customers(), whole)
        path = folder / f"cut{suffix}"
        path.write_bytes(whole.read_bytes()[:3000])
        whole.unlink()
        return path

    return build


def _ragged(folder: Path) -> Path:
    lines = _customers().write_csv().splitlines()
    lines[5] += ",extra"
    path = folder / "ragged.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _latin1(folder: Path) -> Path:
    text = _customers().write_csv().replace("Electronic check", "Chèque électronique")
    path = folder / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    return path


@dataclass(frozen=True)
class Case:
    build: Builder
    commands: tuple[str, ...]
    expected: str


CASES = {
    "path that does not exist": Case(
        lambda f: f / "absent.csv", ("train", "score"), "no such file"
    ),
    "a directory": Case(lambda f: f, ("train", "score"), "is a folder"),
    "an empty file": Case(_text("empty.csv", ""), ("train", "score"), "the file is empty"),
    "a header only": Case(
        _text("header.csv", "customerID,tenure,Churn\n"), ("train", "score"), "no customers"
    ),
    "binary garbage": Case(
        _text("garbage.csv", bytes(range(256)) * 16), ("train", "score"), "not a CSV, Excel"
    ),
    "a truncated .xlsx": Case(_truncated(".xlsx"), ("train", "score"), "cannot be read as XLSX"),
    "a truncated .xls": Case(_truncated(".xls"), ("train", "score"), "cannot be read as XLS"),
    "ragged rows": Case(_ragged, ("train", "score"), "row 5 after the header has 22 fields"),
    "a non-UTF-8 file": Case(_latin1, ("train", "score"), "not UTF-8"),
    "duplicate column names": Case(
        _text("dupes.csv", "customerID,tenure,tenure,Churn\na,1,2,Yes\n"),
        ("train", "score"),
        "duplicate column names: tenure",
    ),
    "required columns missing": Case(
        _changed(lambda frame: frame.drop("tenure", "Contract")),
        ("score",),
        "missing columns the model needs: tenure, Contract",
    ),
    "the target column missing": Case(
        _changed(lambda frame: frame.drop("Churn")), ("train",), "no target column 'Churn'"
    ),
    "a target with one class": Case(
        _changed(lambda frame: frame.with_columns(Churn=pl.lit("No"))), ("train",), "one class only"
    ),
    "a target with three values": Case(
        _changed(_cell("Churn", "Maybe")), ("train",), "has 3 values"
    ),
    "a target all missing": Case(
        _changed(lambda frame: frame.with_columns(Churn=pl.lit(None, pl.String))),
        ("train",),
        "target column 'Churn' is empty",
    ),
    "text in a number column": Case(
        _changed(_cell("tenure", "ten")), ("train", "score"), "column 'tenure': text 'ten'"
    ),
    "infinity in a number column": Case(
        _changed(_cell("TotalCharges", "inf")),
        ("train", "score"),
        "column 'TotalCharges': infinite value inf",
    ),
    "a negative charge": Case(
        _changed(_cell("MonthlyCharges", "-5")),
        ("train", "score"),
        "column 'MonthlyCharges': charge -5.0",
    ),
    "duplicate customer ids": Case(
        _changed(_cell("customerID", "0001-DUPLICATE", 3, 4)),
        ("train",),
        "id column 'customerID' repeats 1 ids",
    ),
    "no rows after cleaning": Case(
        _text("blank.csv", "customerID,tenure,Churn\n , ,\n\n,,\n"),
        ("train", "score"),
        "no customers",
    ),
}


def _command(command: str, data: Path, out: Path) -> list[str]:
    if command == "train":
        return ["train", str(data), "--models", str(out)]
    return ["score", str(data), "--models", str(MODELS), "--out", str(out)]


def _existing_output(command: str, folder: Path) -> Path:
    """An output from an earlier run that a failed run must leave exactly as it was."""
    if command == "train":
        models = folder / "models"
        shutil.copytree(MODELS, models)
        return models
    results = folder / "results.csv"
    results.write_text("CustomerID,ChurnProbability\nearlier,0.5\n")
    return results


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b""
        for path in sorted(folder.rglob("*"))
    }


def _assert_one_clear_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and " — " in result.stderr, result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("case", "command"),
    [(case, command) for case, spec in CASES.items() for command in spec.commands],
)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    case: str, command: str, tmp_path: Path
) -> None:
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    outputs.mkdir()
    data = CASES[case].build(inputs)
    existing = _existing_output(command, outputs)
    before = _snapshot(outputs)
    result = run_cli(*_command(command, data, existing))
    _assert_one_clear_line(result, CASES[case].expected)
    assert _snapshot(outputs) == before  # no partial file, no temporary left, nothing replaced


def _messy_but_valid(folder: Path) -> Path:
    """Quirks that are accepted: BOM, semicolons, spaces, blank and NaN numbers, numbers as text,
    blank lines, a short row, a million-character cell, formula-looking text, repeated ids."""
    frame = _customers().with_columns(pl.all().cast(pl.String))
    frame = _cell("TotalCharges", " ")(frame)
    frame = _cell("MonthlyCharges", "NaN", row=8)(frame)
    frame = _cell("PaymentMethod", "x" * 1_000_000, row=9)(frame)
    frame = _cell("PaymentMethod", '=HYPERLINK("http://example.com","click")', row=10)(frame)
    frame = frame.with_columns(pl.col("gender").str.pad_start(8))
    lines = frame.write_csv(separator=";").splitlines()
    lines[12] = ";".join(lines[12].split(";")[:-3])  # the last three fields missing: blank
    lines.insert(20, "")
    path = folder / "messy.csv"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def test_messy_but_valid_files_are_trained_on_and_scored(tmp_path: Path) -> None:
    data = _messy_but_valid(tmp_path)
    models = tmp_path / "models"
    trained = run_cli("train", str(data), "--models", str(models), "--skip-policy", "--folds", "2")
    assert trained.returncode == 0, trained.stderr
    out = tmp_path / "results.csv"
    scored = run_cli("score", str(data), "--models", str(MODELS), "--out", str(out), "--quiet")
    assert scored.returncode == 0, scored.stderr
    results = pl.read_csv(out, infer_schema=False)
    assert results.height == 300  # the blank line is not a customer
    assert results.get_column("CustomerID").to_list() == _customers()["customerID"].to_list()
    assert results.get_column("TopDrivers").str.starts_with("=").sum() == 0
    assert results.get_column("ChurnProbability").cast(pl.Float64).is_not_null().all()


BUNDLE_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "a missing file": (lambda m: (m / "policy.pt").unlink(), "policy.pt"),
    "a modified weight file": (
        lambda m: (m / "policy.pt").write_bytes((m / "policy.pt").read_bytes()[:-8] + b"\0" * 8),
        "SHA-256",
    ),
    "bundle.json that is not JSON": (
        lambda m: (m / "bundle.json").write_text("{not json"),
        "is not valid JSON",
    ),
    "a newer format version": (
        lambda m: (m / "bundle.json").write_text(
            (m / "bundle.json")
            .read_text()
            .replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 99')
        ),
        "newer than this aura-sentinel reads",
    ),
    "a feature list that does not match the model": (
        lambda m: (m / "bundle.json").write_text(
            (m / "bundle.json").read_text().replace('"name": "tenure"', '"name": "months"')
        ),
        "feature",
    ),
}


@pytest.fixture(scope="module")
def scored_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scored")
    data = folder / "customers.csv"
    _customers().write_csv(data)
    out = folder / "results.csv"
    result = run_cli("score", str(data), "--models", str(MODELS), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("damage", list(BUNDLE_DAMAGE))
@pytest.mark.parametrize("command", ["score", "report"])
def test_a_damaged_bundle_is_refused(
    damage: str, command: str, tmp_path: Path, scored_results: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    spoil, expected = BUNDLE_DAMAGE[damage]
    spoil(models)
    out = tmp_path / ("results.csv" if command == "score" else "report.html")
    if command == "score":
        args = ["score", str(REPO / "data" / "dataset.xls"), "--out", str(out)]
    else:
        args = ["report", str(scored_results), "--html", str(out)]
    result = run_cli(*args, "--models", str(models))
    _assert_one_clear_line(result, expected)
    assert not out.exists()


REPORT_CASES: dict[str, tuple[Builder, str]] = {
    "path that does not exist": (lambda f: f / "absent.csv", "no such file"),
    "a directory": (lambda f: f, "is a folder"),
    "an empty file": (_text("empty.csv", ""), "the file is empty"),
    "binary garbage": (_text("garbage.csv", bytes(range(256)) * 16), "not a CSV, Excel"),
    "an Excel file": (_truncated(".xls"), "not a results file"),
    "a header only": (_text("header.csv", "ChurnProbability,RiskLevel\n"), "missing result"),
}


@pytest.mark.parametrize("case", list(REPORT_CASES))
def test_bad_results_for_report_are_one_line(case: str, tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    html = tmp_path / "report.html"
    html.write_text("an earlier report")
    build, expected = REPORT_CASES[case]
    result = run_cli("report", str(build(inputs)), "--models", str(MODELS), "--html", str(html))
    _assert_one_clear_line(result, expected)
    assert html.read_text() == "an earlier report"


def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process may not write to (root may write anywhere chmod forbids)."""
    if os.geteuid() == 0:
        return Path("/proc")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


def test_an_unwritable_folder_is_one_line(tmp_path: Path, scored_results: Path) -> None:
    folder = _unwritable_folder(tmp_path)
    data = REPO / "data" / "dataset.xls"
    for args in (
        ["score", str(data), "--models", str(MODELS), "--out", str(folder / "r.csv")],
        ["report", str(scored_results), "--models", str(MODELS), "--html", str(folder / "r.html")],
        ["train", str(data), "--models", str(folder / "models"), "--skip-policy", "--folds", "2"],
    ):
        _assert_one_clear_line(run_cli(*args), "cannot be written")


def _with_file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(
            signal.SIGXFSZ, signal.SIG_IGN
        )  # a write beyond the limit fails, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(
    tmp_path: Path, scored_results: Path
) -> None:
    data = REPO / "data" / "dataset.xls"
    outputs = tmp_path / "out"
    outputs.mkdir()
    (outputs / "results.csv").write_text("earlier results\n")
    (outputs / "report.html").write_text("an earlier report")
    shutil.copytree(MODELS, outputs / "models")
    before = _snapshot(outputs)
    for args in (
        ["score", str(data), "--models", str(MODELS), "--out", str(outputs / "results.csv")],
        ["report", str(scored_results), "--models", str(MODELS), "--html",
         str(outputs / "report.html")],
        ["train", str(data), "--models", str(outputs / "models"), "--skip-policy", "--folds", "2"],
    ):  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "aura_sentinel", *args],
            capture_output=True, text=True, check=False, preexec_fn=_with_file_size_limit(20_000),
        )  # fmt: skip
        _assert_one_clear_line(result, "cannot be written")
        assert _snapshot(outputs) == before


def _interrupt(args: list[str], started: Callable[[], bool]) -> subprocess.Popen[str]:
    """Run the command and press Ctrl-C once `started()` holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aura_sentinel", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not started() and process.poll() is None:
        assert time.monotonic() < deadline, "the command never got going"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    return process


def test_ctrl_c_while_scoring_leaves_no_partial_file_and_a_rerun_works(tmp_path: Path) -> None:
    data = tmp_path / "customers.parquet"
    generate_customers(150_000, seed=2).write_parquet(data)
    outputs = tmp_path / "out"
    outputs.mkdir()
    results = outputs / "results.csv"
    results.write_text("earlier results\n")
    before = _snapshot(outputs)
    args = ["score", str(data), "--models", str(MODELS), "--out", str(results), "--batch-rows",
            "20000"]  # fmt: skip
    process = _interrupt(args, lambda: any(outputs.glob(".results.csv.*.tmp")))
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("interrupted: "), stderr
    assert _snapshot(outputs) == before
    rerun = run_cli(*args, "--quiet")
    assert rerun.returncode == 0, rerun.stderr
    assert pl.read_csv(results).height == 150_000


def test_ctrl_c_inside_polars_code_is_delivered_again_outside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Polars runs some Python code as callbacks from Rust, where an exception would become a
    panic: Ctrl-C there is put off and sent again; in any other code it stops the command."""
    from types import SimpleNamespace
    from typing import Any

    from aura_sentinel import cli

    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(cli.os, "kill", lambda pid, number: sent.append((pid, number)))

    def frame(filename: str) -> Any:
        return SimpleNamespace(f_code=SimpleNamespace(co_filename=filename))

    in_polars = frame(str(Path(pl.__file__).parent / "io" / "scan_options" / "cast_options.py"))
    cli._interrupted(signal.SIGINT, in_polars)  # returns: nothing raised inside Polars
    deadline = time.monotonic() + 5
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent == [(os.getpid(), signal.SIGINT)]
    with pytest.raises(cli.Interrupted):
        cli._interrupted(signal.SIGINT, frame(cli.__file__))


def test_ctrl_c_while_training_keeps_the_bundle(tmp_path: Path) -> None:
    outputs = tmp_path / "out"
    outputs.mkdir()
    shutil.copytree(MODELS, outputs / "models")
    before = _snapshot(outputs)
    args = ["train", str(REPO / "data" / "dataset.xls"), "--models", str(outputs / "models")]
    started = time.monotonic()
    process = _interrupt(args, lambda: time.monotonic() - started > 4)  # while it trains
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("interrupted: "), stderr
    assert _snapshot(outputs) == before

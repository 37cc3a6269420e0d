"""`score` outputs: `--out -` (CSV on stdout), JSON and JSON Lines files, rounded text results."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from test_dqn import SMALL

from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import UsageError
from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.record import record_path
from aura_sentinel.report import make_report
from aura_sentinel.results import rounded, write_text_results
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.training import TrainOptions, train

from conftest import run_cli


def small_bundle_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small bundle, trained once per test session (test_api.py uses it too)."""
    folder = tmp_path_factory.getbasetemp() / "output-formats-bundle"
    models = folder / "models"
    if not (models / "bundle.json").is_file():
        folder.mkdir(exist_ok=True)
        data = folder / "train.csv"
        generate_customers(800, seed=3).write_csv(data)
        options = TrainOptions(folds=2, policy_settings=PolicySettings(dqn=SMALL))
        train(data, models, options)
    return models


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_bundle_in(tmp_path_factory)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("customers") / "customers.csv"
    generate_customers(300, seed=11).write_csv(path)
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, data: Path, models: Path) -> dict[str, Path]:
    """The same customers scored to every file format, by suffix."""
    folder = tmp_path_factory.mktemp("written")
    suffixes = (".csv", ".parquet", ".json", ".jsonl")
    outputs = {suffix: folder / f"results{suffix}" for suffix in suffixes}
    for output in outputs.values():
        score_file(data, models, output, ScoreSettings())
    return outputs


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_stdout_csv_equals_the_csv_file(
    tmp_path: Path, data: Path, models: Path, written: dict[str, Path]
) -> None:
    result = run_cli("score", str(data), "--models", str(models), "--out", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == written[".csv"].read_text(encoding="utf-8")


def test_stdout_gets_only_results_the_summary_goes_to_stderr_and_no_file_is_written(
    tmp_path: Path, data: Path, models: Path
) -> None:
    result = run_cli("score", str(data), "--models", str(models), "--out", "-", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CustomerID,")
    assert "Scored 300 customers" in result.stderr
    assert "standard output (no run record)" in result.stderr
    assert "Scored" not in result.stdout
    assert list(tmp_path.iterdir()) == []  # no results file, no run record, no temporary file


def test_bad_input_with_stdout_is_one_line_exit_2_and_nothing_on_stdout(
    tmp_path: Path, data: Path, models: Path
) -> None:
    """The bad cell is in the third batch: the first two were scored, none reached stdout."""
    table = pl.read_csv(data, infer_schema=False)
    tenure = pl.when(pl.int_range(pl.len()) == 249).then(pl.lit("lots")).otherwise("tenure")
    bad = tmp_path / "bad.csv"
    table.with_columns(tenure.alias("tenure")).write_csv(bad)
    result = run_cli(
        "score", str(bad), "--models", str(models), "--out", "-", "--batch-rows", "100"
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(_lines(result.stderr)) == 1
    assert "row 250" in result.stderr and "tenure" in result.stderr


def test_a_reader_that_stops_early_is_one_line_and_exit_2(tmp_path: Path, models: Path) -> None:
    data = tmp_path / "many.csv"
    generate_customers(3000, seed=4).write_csv(data)  # more results than a pipe holds
    command = [sys.executable, "-m", "aura_sentinel", "score", str(data)]
    with subprocess.Popen(
        [*command, "--models", str(models), "--out", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("CustomerID,")
        process.stdout.close()  # like `| head -1`
        stderr = process.stderr.read()
        process.wait(timeout=120)
    assert process.returncode == 2
    assert _lines(stderr) == [
        "error: --out -: standard output was closed before all results were written — let the "
        "reading program read to the end, or write the results to a file"
    ]


def test_stdout_with_the_ray_engine_is_refused(tmp_path: Path, data: Path, models: Path) -> None:
    result = run_cli(
        "score", str(data), "--models", str(models), "--out", "-", "--engine", "ray", cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(_lines(result.stderr)) == 1 and "--out -" in result.stderr


def test_an_unknown_output_type_is_refused_naming_the_types(
    tmp_path: Path, data: Path, models: Path
) -> None:
    with pytest.raises(UsageError, match=r"\.csv, \.parquet, \.json or \.jsonl"):
        score_file(data, models, tmp_path / "results.txt", ScoreSettings())
    assert list(tmp_path.iterdir()) == []


def test_json_is_one_array_of_the_csv_rows(written: dict[str, Path]) -> None:
    rows = json.loads(written[".json"].read_text(encoding="utf-8"))
    assert isinstance(rows, list) and len(rows) == 300
    assert pl.DataFrame(rows).equals(pl.read_csv(written[".csv"]))


def test_json_lines_hold_one_object_a_line_the_same_as_json(written: dict[str, Path]) -> None:
    lines = written[".jsonl"].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300
    objects = [json.loads(line) for line in lines]
    assert objects == json.loads(written[".json"].read_text(encoding="utf-8"))


def test_json_and_json_lines_have_a_run_record(written: dict[str, Path]) -> None:
    for suffix in (".json", ".jsonl"):
        record = json.loads(record_path(written[suffix]).read_text(encoding="utf-8"))
        assert record["customers"] == 300
        assert record["results_bytes"] == written[suffix].stat().st_size


def test_json_is_strict_nan_and_infinity_are_null() -> None:
    import io

    results = pl.DataFrame(
        {
            "Tenure": [float("nan"), float("inf"), 3.0],
            "MonthlyCharges": [float("-inf"), 20.0, None],
            "ChurnProbability": [0.5, 0.25, 0.125],
            "ActionCost": [0.0, 1.0, 2.0],
            "ExpectedValue": [1.0, 2.0, 3.0],
            "ExpectedGain": [0.0, 0.5, 0.25],
        }
    )
    for text_format in ("json", "jsonl"):
        handle = io.BytesIO()
        write_text_results([results], handle, text_format)
        text = handle.getvalue().decode()

        def refuse(constant: str) -> None:
            raise AssertionError(f"{constant} in strict JSON")

        parsed = (
            json.loads(text, parse_constant=refuse)
            if text_format == "json"
            else [json.loads(line, parse_constant=refuse) for line in text.splitlines()]
        )
        assert [row["Tenure"] for row in parsed] == [None, None, 3.0]
        assert [row["MonthlyCharges"] for row in parsed] == [None, 20.0, None]


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_report_reads_json_results_as_it_reads_csv(
    tmp_path: Path, written: dict[str, Path], models: Path, suffix: str
) -> None:
    from_csv, _ = make_report(written[".csv"], models, tmp_path / "csv.html")
    from_json, _ = make_report(written[suffix], models, tmp_path / "json.html")
    assert from_json.customers == from_csv.customers == 300
    assert from_json.risk.counts == from_csv.risk.counts
    assert from_json.spend == pytest.approx(from_csv.spend)
    assert from_json.gain == pytest.approx(from_csv.gain)


def test_report_names_a_damaged_json_file(tmp_path: Path, models: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"CustomerID": "1", "ChurnProbability": ', encoding="utf-8")
    result = run_cli("report", str(broken), "--models", str(models), cwd=tmp_path)
    assert result.returncode == 2
    assert len(_lines(result.stderr)) == 1 and "broken.json" in result.stderr


def _decimals(text: pl.Series) -> int:
    """The most digits after the decimal point in a column of CSV text."""
    fractions = text.str.split_exact(".", 1).struct.field("field_1").fill_null("")
    return int(fractions.str.len_chars().max() or 0)


def test_csv_has_probabilities_to_4_decimals_and_money_to_the_cent(
    written: dict[str, Path],
) -> None:
    text = pl.read_csv(written[".csv"], infer_schema=False)
    full = pl.read_parquet(written[".parquet"])
    assert _decimals(text.get_column("ChurnProbability")) == 4
    for name in ("MonthlyCharges", "ActionCost", "ExpectedValue", "ExpectedGain"):
        assert _decimals(text.get_column(name)) <= 2, name
    assert _decimals(full.get_column("ChurnProbability").cast(pl.String)) > 4  # Parquet: full
    numbers = pl.read_csv(written[".csv"])
    for name, step in (("ChurnProbability", 1e-4), ("ExpectedValue", 1e-2)):
        error = (numbers.get_column(name) - full.get_column(name)).abs().max()
        assert isinstance(error, float) and error <= step / 2 + 1e-12


def test_money_counted_in_months_of_charge_keeps_4_decimals() -> None:
    results = pl.DataFrame(
        {
            "MonthlyCharges": [None, 29.857],
            "ChurnProbability": [0.123456, 0.5],
            "ActionCost": [0.05123, 1.234],
            "ExpectedValue": [25.12346, -0.001],
            "ExpectedGain": [0.00891, -0.004],
        }
    )
    shown = rounded(results)
    assert shown.row(0) == (None, 0.1235, 0.0512, 25.1235, 0.0089)
    assert shown.row(1) == (29.86, 0.5, 1.23, 0.0, 0.0)
    assert all(math.copysign(1, value) == 1 for value in shown.row(1)[3:])  # no -0.0


def test_summary_and_run_record_are_computed_before_rounding(
    tmp_path: Path, data: Path, models: Path, written: dict[str, Path]
) -> None:
    summary = score_file(data, models, tmp_path / "r.csv", ScoreSettings())
    full = pl.read_parquet(written[".parquet"])
    assert summary.action_costs.sum() == pytest.approx(full.get_column("ActionCost").sum(), 1e-12)
    assert summary.action_gains.sum() == pytest.approx(full.get_column("ExpectedGain").sum(), 1e-12)
    record = json.loads(record_path(tmp_path / "r.csv").read_text(encoding="utf-8"))
    assert record["unconstrained_cost"] == pytest.approx(full.get_column("ActionCost").sum())

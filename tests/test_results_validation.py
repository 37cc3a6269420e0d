"""The results' rules (results.py) and the run record's are applied when `report` reads them: a
bad cell is one line naming the file, the column and the row; a bad record is ignored with a note.
Everything the tool writes as JSON is strict JSON."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from aura_sentinel.bundle import load_bundle
from aura_sentinel.errors import DataError
from aura_sentinel.record import RunRecord, read_record, record_path, write_record
from aura_sentinel.report.content import build_report
from aura_sentinel.results import check_results, result_rules

from conftest import REPO, run_cli

MODELS = REPO / "models"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Results (CSV, with its run record) of 30 generated customers, scored by the shipped
    bundle."""
    from aura_sentinel.demo import generate_customers

    folder = tmp_path_factory.mktemp("scored")
    data = folder / "customers.csv"
    generate_customers(30, seed=4).write_csv(data)
    out = folder / "results.csv"
    result = run_cli("score", str(data), "--models", str(MODELS), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    return out


def _edited(scored: Path, folder: Path, column: str, value: str, row: int = 4) -> Path:
    """A copy of the results with one cell (0-based row) replaced, as a hand edit would."""
    frame = pl.read_csv(scored, infer_schema=False)
    cells = frame.get_column(column).to_list()
    cells[row] = value
    path = folder / "edited.csv"
    frame.with_columns(pl.Series(column, cells, dtype=pl.String)).write_csv(path)
    return path


BAD_CELLS = {
    "a NaN probability": ("ChurnProbability", "NaN", "a number from 0 to 1"),
    "a negative probability": ("ChurnProbability", "-0.5", "a number from 0 to 1"),
    "a probability of 5": ("ChurnProbability", "5.0", "a number from 0 to 1"),
    "an infinite probability": ("ChurnProbability", "inf", "a number from 0 to 1"),
    "an empty probability": ("ChurnProbability", "", "a number"),
    "an unknown risk level": ("RiskLevel", "SEVERE", "one of HIGH, MEDIUM, LOW"),
    "an action id outside the catalog": ("ActionID", "9", "a whole number from 0 to 5"),
    "a fractional action id": ("ActionID", "1.5", "a whole number from 0 to 5"),
    "a negative cost": ("ActionCost", "-1", "a number of 0 or more"),
    "an infinite cost": ("ActionCost", "inf", "a number of 0 or more"),
    "a NaN gain": ("ExpectedGain", "NaN", "a finite number"),
    "an infinite value": ("ExpectedValue", "-inf", "a finite number"),
}


@pytest.mark.parametrize("case", list(BAD_CELLS))
def test_a_bad_cell_names_the_file_column_and_row(case: str, scored: Path, tmp_path: Path) -> None:
    column, value, rule = BAD_CELLS[case]
    edited = _edited(scored, tmp_path, column, value)
    with pytest.raises(DataError) as error:
        build_report(edited, MODELS)
    message = str(error.value)
    assert message.startswith(f"{edited}: column {column}, row 5 after the header: ")
    assert f"is not {rule}" in message and "re-run `aura-sentinel score`" in message


def test_text_where_a_number_belongs_names_the_row(scored: Path, tmp_path: Path) -> None:
    edited = _edited(scored, tmp_path, "ActionCost", "lots", row=2)
    with pytest.raises(DataError, match="column ActionCost, row 3 after the header: 'lots' is not"):
        build_report(edited, MODELS)


def test_a_bad_cell_through_the_command_line_is_one_line(scored: Path, tmp_path: Path) -> None:
    edited = _edited(scored, tmp_path, "ChurnProbability", "NaN")
    html = tmp_path / "report.html"
    result = run_cli("report", str(edited), "--models", str(MODELS), "--html", str(html))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "ChurnProbability" in result.stderr and not html.exists()


def test_a_bad_cell_in_parquet_results_is_refused(scored: Path, tmp_path: Path) -> None:
    frame = pl.read_csv(scored)
    probability = frame.get_column("ChurnProbability").to_list()
    probability[0] = math.nan
    parquet = tmp_path / "results.parquet"
    frame.with_columns(pl.Series("ChurnProbability", probability)).write_parquet(parquet)
    with pytest.raises(DataError, match="column ChurnProbability, row 1: 'nan' is not a number"):
        build_report(parquet, MODELS)


def test_unedited_results_pass_their_rules(scored: Path) -> None:
    policy = load_bundle(MODELS).manifest.policy
    assert policy is not None
    rules = result_rules(policy.settings.catalog.names)
    check_results(pl.read_csv(scored), rules, str(scored), "row {}", "re-run score")
    assert build_report(scored, MODELS).customers == 30


# ---- the run record -----------------------------------------------------------------------------


def _record_copy(scored: Path, folder: Path, change: dict[str, Any]) -> Path:
    results = folder / scored.name
    shutil.copy(scored, results)
    data = json.loads(record_path(scored).read_text(encoding="utf-8"))
    record_path(results).write_text(json.dumps({**data, **change}), encoding="utf-8")
    return results


BAD_RECORDS: dict[str, tuple[dict[str, Any], str]] = {
    "text for a threshold": ({"high": "0.7"}, "field 'high' is \"0.7\", not a number from 0 to 1"),
    "a threshold above 1": ({"medium": 2.0}, "field 'medium' is 2.0"),
    "medium above high": ({"medium": 0.9}, "field 'medium' is above field 'high'"),
    "text for a weight": ({"driver_weight": {"tenure": "x"}}, "field 'driver_weight'"),
    "a negative budget": ({"budget": -5}, "field 'budget' is -5"),
    "a number for explain": ({"explain": 1}, "field 'explain' is 1, not true or false"),
    "a string for the bundle hash": ({"bundle_sha256": 7}, "field 'bundle_sha256'"),
    "an unknown field": ({"extra": 1}, "has an unknown field 'extra'"),
    "a NaN literal": ({"unconstrained_gain": math.nan}, "field 'unconstrained_gain' is NaN"),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_a_run_record_with_a_bad_field_is_ignored_with_a_note(
    case: str, scored: Path, tmp_path: Path
) -> None:
    change, note = BAD_RECORDS[case]
    results = _record_copy(scored, tmp_path, change)
    record, reason = read_record(results)
    assert record is None and reason is not None
    assert note in reason and reason.endswith("; ignored")
    report = build_report(results, MODELS)
    assert report.risk.thresholds is None and any(note in line for line in report.notes)


def test_a_run_record_with_a_missing_field_is_ignored(scored: Path, tmp_path: Path) -> None:
    results = tmp_path / scored.name
    shutil.copy(scored, results)
    data = json.loads(record_path(scored).read_text(encoding="utf-8"))
    del data["customers"]
    record_path(results).write_text(json.dumps(data), encoding="utf-8")
    assert "lacks the field 'customers'" in str(read_record(results)[1])


def test_a_good_run_record_is_read_with_its_types(scored: Path) -> None:
    record, reason = read_record(scored)
    assert reason is None and record is not None
    assert record.customers == 30 and isinstance(record.high, float)


def test_a_run_record_with_nan_is_never_written(scored: Path, tmp_path: Path) -> None:
    record, _ = read_record(scored)
    assert record is not None
    broken = RunRecord(**{**record.to_json(), "unconstrained_gain": math.nan})
    target = tmp_path / "record.json"
    with pytest.raises(ValueError, match="unconstrained_gain"):
        write_record(target, broken)
    assert not target.exists()


def test_the_run_record_is_strict_json(scored: Path) -> None:
    text = record_path(scored).read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the run record"))


def test_a_bad_cell_of_a_batch_is_named_by_its_row_in_the_whole_file() -> None:
    frame = pl.DataFrame({"ChurnProbability": [0.1, 1.2], "ActionID": [0, 1]})
    rules = result_rules(("No action", "Send email"))
    with pytest.raises(DataError, match=r"column ChurnProbability, row 12 after the header: '1.2'"):
        check_results(frame, rules, "in.csv", "row {} after the header", "fix", first_row=10)


def test_pass_through_columns_may_be_empty_or_any_number() -> None:
    frame = pl.DataFrame(
        {"Tenure": [None, -3.0, math.nan], "MonthlyCharges": [math.inf, None, 20.0]}
    )
    check_results(frame, result_rules(("No action",)), "in.csv", "row {}", "fix")

"""Drift at scoring: the bundle keeps the training distribution of every feature and state field;
`score` gives each column's population stability index (PSI), warns above 0.25 naming the columns,
counts the state inputs outside the training range, and writes both to the run record."""

from __future__ import annotations

import io
import json
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from aura_sentinel import render
from aura_sentinel.bundle import MANIFEST, load_bundle
from aura_sentinel.drift import STATE_FIELDS, count_bins, fit_distributions, with_state
from aura_sentinel.errors import BundleError
from aura_sentinel.features import FeatureColumn, FeatureSpec, fit_feature_spec
from aura_sentinel.pipeline import ScoreSettings, ScoreSummary, score_file
from aura_sentinel.record import RunRecord, read_record, record_path
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.retention.dqn import DQNConfig
from aura_sentinel.retention.state import STATE_COLUMNS
from aura_sentinel.training import TrainOptions, train

from conftest import run_cli

FAST = TrainOptions(
    folds=2, policy_settings=PolicySettings(dqn=DQNConfig(iterations=60, hidden=16))
)
STATE_NAMES = [f"state:{name}" for name in STATE_FIELDS]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, customers: pl.DataFrame) -> Path:
    """A small bundle trained on the generated customers (kept as customers.parquet beside it)."""
    folder = tmp_path_factory.mktemp("drift")
    data = folder / "customers.parquet"
    customers.write_parquet(data)
    train(data, folder / "models", FAST)
    return folder / "models"


def _score(
    models: Path, frame: pl.DataFrame, folder: Path, batch_rows: int = 200_000
) -> ScoreSummary:
    data = folder / "in.parquet"
    frame.write_parquet(data)
    out = folder / "results.csv"
    return score_file(data, models, out, ScoreSettings(explain=False), batch_rows=batch_rows)


def _charges_times(customers: pl.DataFrame, factor: float) -> pl.DataFrame:
    return customers.with_columns(pl.col("MonthlyCharges") * factor)


def _summary_text(summary: ScoreSummary) -> str:
    console = Console(file=io.StringIO(), width=400)
    render.score_summary(console, summary)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_the_bundle_keeps_a_distribution_of_every_feature_and_state_field(trained: Path) -> None:
    manifest = load_bundle(trained).manifest
    names = [item.name for item in manifest.distributions]
    assert names == manifest.features.names + STATE_NAMES
    for item in manifest.distributions:
        assert list(item.edges) == sorted(set(item.edges)) and len(item.edges) <= 9
        assert math.isclose(sum(item.shares) + item.missing_share, 1.0)
    charges = next(item for item in manifest.distributions if item.name == "MonthlyCharges")
    assert len(charges.edges) == 9 and charges.low < charges.edges[0] < charges.high


def test_the_distributions_do_not_depend_on_the_row_order(customers: pl.DataFrame) -> None:
    features = customers.drop("customerID", "Churn")
    spec = fit_feature_spec(features, "customers")
    matrix = spec.matrix(features, "customers")
    order = np.random.default_rng(3).permutation(matrix.shape[0])
    assert fit_distributions(spec, matrix) == fit_distributions(spec, matrix[order])


def test_every_row_is_counted_in_the_bin_its_value_falls_in() -> None:
    rng = np.random.default_rng(8)
    rows = 10_001  # several blocks of the transposition, the last one short
    values = rng.normal(50, 20, rows).astype(np.float32)
    values[rng.random(rows) < 0.05] = np.nan
    codes = rng.integers(0, 3, rows).astype(np.float32)
    codes[:40] = np.nan  # 30 blank cells, 10 levels training never saw
    spec = FeatureSpec(
        (FeatureColumn("amount", "number"), FeatureColumn("plan", "category", ("a", "b", "c")))
    )
    matrix = np.ascontiguousarray(np.column_stack([values, codes]))
    state = np.ascontiguousarray(rng.uniform(0, 100, (rows, 9)).astype(np.float32))
    distributions = with_state(fit_distributions(spec, matrix[:5000]), state[:5000])
    counts = count_bins(distributions, spec, matrix, state, {"plan": 10})

    edges = np.array(distributions[0].edges, dtype=np.float32)
    present = values[~np.isnan(values)]
    expected = np.bincount(np.searchsorted(edges, present, side="right"), minlength=edges.size + 1)
    assert counts.rows["amount"].tolist() == [*expected.tolist(), rows - present.size]
    levels = np.bincount(codes[40:].astype(np.intp), minlength=3)
    assert counts.rows["plan"].tolist() == [*levels.tolist(), 10, 30]
    tenure = state[:, STATE_COLUMNS.index("tenure")]
    tenure_range = next(item for item in distributions if item.name == "state:tenure")
    outside = (tenure < tenure_range.low) | (tenure > tenure_range.high)
    assert counts.outside["state:tenure"] == int(outside.sum()) > 0


def test_policy_only_keeps_the_feature_distributions_and_refits_the_state_ones(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(trained, models)
    data = tmp_path / "tripled.parquet"
    _charges_times(customers, 3).write_parquet(data)
    train(data, models, replace(FAST, churn=False))
    before = {item.name: item for item in load_bundle(trained).manifest.distributions}
    after = {item.name: item for item in load_bundle(models).manifest.distributions}
    assert after.keys() == before.keys()
    assert after["MonthlyCharges"] == before["MonthlyCharges"]  # the churn model's training data
    charges = after["state:monthly_charges"]
    assert math.isclose(charges.high, 3 * before["state:monthly_charges"].high, rel_tol=1e-6)


def test_drift_is_zero_on_the_training_data_itself(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    summary = _score(trained, customers, tmp_path)
    assert set(summary.drift) == {item.name for item in load_bundle(trained).manifest.distributions}
    assert max(summary.drift.values()) < 1e-12
    assert summary.out_of_range == dict.fromkeys(STATE_NAMES, 0)
    text = _summary_text(summary)
    assert "PSI" not in text and "outside the training range" not in text


def test_drift_is_zero_on_a_reshuffled_copy(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    summary = _score(trained, customers.sample(fraction=1.0, shuffle=True, seed=5), tmp_path)
    assert max(summary.drift.values()) < 1e-12


@pytest.mark.parametrize("factor", [3, 100])
def test_charges_in_other_units_drift_as_a_feature_and_as_a_state_field(
    factor: int, trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    summary = _score(trained, _charges_times(customers, factor), tmp_path)
    assert summary.drift["MonthlyCharges"] > 0.25
    # Caught even for a model without charge features: the policy's state reads them too.
    assert summary.drift["state:monthly_charges"] > 0.25
    assert summary.drift["tenure"] < 1e-12 and summary.drift["Contract"] < 1e-12


def test_a_shifted_category_mix_drifts(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    shifted = customers.with_columns(pl.lit("Two year").alias("Contract"))
    summary = _score(trained, shifted, tmp_path)
    assert summary.drift["Contract"] > 0.25
    assert summary.drift["gender"] < 1e-12


def test_unseen_levels_and_blanks_are_counted_in_their_own_bins(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    contract = ["Weekly"] * 100 + [None] * 50 + customers.get_column("Contract").to_list()[150:]
    changed = customers.with_columns(pl.Series("Contract", contract, dtype=pl.String))
    summary = _score(trained, changed, tmp_path)
    assert summary.drift_counts is not None
    counts = summary.drift_counts.rows["Contract"]
    assert counts[-2:].tolist() == [100, 50]  # another level, then missing
    assert counts.sum() == customers.height
    assert summary.drift["Contract"] > 0.25


def test_state_inputs_outside_the_training_range_are_counted(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    summary = _score(trained, _charges_times(customers, 3), tmp_path)
    charges = customers.get_column("MonthlyCharges").to_numpy().astype(np.float32)
    tripled = (customers.get_column("MonthlyCharges") * 3).to_numpy().astype(np.float32)
    expected = int(np.count_nonzero(tripled > charges.max()))
    assert 0 < expected < customers.height
    assert summary.out_of_range["state:monthly_charges"] == expected
    assert summary.out_of_range["state:tenure"] == 0


def test_the_summary_warns_naming_the_drifted_columns_and_the_state_out_of_range(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    summary = _score(trained, _charges_times(customers, 100), tmp_path)
    lines = _summary_text(summary).splitlines()
    drift = [line for line in lines if "PSI" in line]
    assert len(drift) == 1 and drift[0].startswith("warning:")
    assert "MonthlyCharges (PSI" in drift[0] and "state:monthly_charges (PSI" in drift[0]
    assert "tenure" not in drift[0]
    outside = [line for line in lines if "outside the training range" in line]
    assert len(outside) == 1
    assert f"monthly_charges ({customers.height:,} customers)" in outside[0]
    assert "tenure" not in outside[0]


def test_the_largest_drift_is_named_first(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    shifted = _charges_times(customers, 100).with_columns(pl.lit("Two year").alias("Contract"))
    summary = _score(trained, shifted, tmp_path)
    line = next(line for line in _summary_text(summary).splitlines() if "PSI" in line)
    named = re.findall(r"([^\s,]+) \(PSI \d+\.\d+\)", line)
    assert named == sorted(named, key=lambda name: -summary.drift[name])
    assert {"MonthlyCharges", "state:monthly_charges", "Contract"} <= set(named)


def test_drift_does_not_depend_on_the_batch_size(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    frame = _charges_times(customers, 3).with_columns(pl.lit("Two year").alias("Contract"))
    whole = _score(trained, frame, tmp_path)
    batched = _score(trained, frame, tmp_path, batch_rows=7)
    assert batched.drift == whole.drift
    assert batched.out_of_range == whole.out_of_range


def test_the_run_record_holds_drift_and_out_of_range_and_reads_them_back(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    summary = _score(trained, _charges_times(customers, 3), tmp_path)
    record, reason = read_record(tmp_path / "results.csv")
    assert reason is None and record is not None
    assert record.drift == summary.drift and record.drift["state:monthly_charges"] > 0.25
    assert record.out_of_range == summary.out_of_range
    assert RunRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"drift": {"tenure": -0.5}}, "field 'drift'"),
        ({"drift": {"tenure": "high"}}, "field 'drift'"),
        ({"out_of_range": {"state:tenure": 1.5}}, "field 'out_of_range'"),
    ],
)
def test_a_run_record_with_bad_drift_is_ignored(
    change: dict[str, Any], field: str, trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    _score(trained, customers, tmp_path)
    path = record_path(tmp_path / "results.csv")
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}), encoding="utf-8")
    record, reason = read_record(tmp_path / "results.csv")
    assert record is None and reason is not None and field in reason


# ---- a damaged "distributions" entry in bundle.json ---------------------------------------------

Damage = Callable[[list[dict[str, Any]]], None]


def _item(items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(item for item in items if item["name"] == name)


def _index(items: list[dict[str, Any]], name: str) -> int:
    return next(index for index, item in enumerate(items) if item["name"] == name)


def _set(name: str, key: str, value: Any) -> Damage:
    def damage(items: list[dict[str, Any]]) -> None:
        _item(items, name)[key] = value

    return damage


def _reversed(name: str, key: str) -> Damage:
    def damage(items: list[dict[str, Any]]) -> None:
        _item(items, name)[key].reverse()

    return damage


def _remove(name: str) -> Damage:
    def damage(items: list[dict[str, Any]]) -> None:
        del items[_index(items, name)]

    return damage


DAMAGES: dict[str, tuple[Damage, str]] = {
    "edges out of order": (_reversed("MonthlyCharges", "edges"), ".edges are not in strictly"),
    "shares not adding up to 1": (_set("tenure", "missing_share", 0.5), ".shares and missing"),
    "a NaN share": (_set("tenure", "shares", [math.nan] * 10), ".shares[0] is NaN"),
    "a share above 1": (_set("tenure", "shares", [2.0] * 10), ".shares[0] is 2"),
    "one share too few": (_set("gender", "shares", [1.0]), ".shares are 1, not one per bin"),
    "an edge beyond float32": (_set("tenure", "edges", [1e39]), ".edges holds a number beyond"),
    "edges for a category": (_set("gender", "edges", [1.0]), ".edges are given for a category"),
    "levels unlike the feature's": (_reversed("gender", "levels"), ".name 'gender' has another"),
    "an unknown column": (_set("gender", "name", "Surprise"), ".name 'Surprise' is neither"),
    "a feature left out": (
        _remove("tenure"),
        "distributions has no entry for the feature 'tenure'",
    ),
    "an unknown key": (_set("gender", "surprise", 1), ".surprise is not a field of bundle.json"),
    "a text low": (_set("state:tenure", "low", "0"), '.low is "0", not a number'),
}


def _damaged(trained: Path, folder: Path, damage: Damage) -> Path:
    models = folder / "damaged"
    shutil.copytree(trained, models)
    manifest = json.loads((models / MANIFEST).read_text(encoding="utf-8"))
    damage(manifest["distributions"])
    (models / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return models


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_distribution_is_refused_naming_its_key(
    case: str, trained: Path, tmp_path: Path
) -> None:
    damage, words = DAMAGES[case]
    with pytest.raises(BundleError) as refused:
        load_bundle(_damaged(trained, tmp_path, damage))
    message = str(refused.value)
    assert "distributions" in message and words in message, message


def test_a_bundle_without_distributions_is_one_line_for_score(
    trained: Path, customers: pl.DataFrame, tmp_path: Path
) -> None:
    models = _damaged(trained, tmp_path, lambda items: None)
    manifest = json.loads((models / MANIFEST).read_text(encoding="utf-8"))
    del manifest["distributions"]
    (models / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    data = tmp_path / "customers.csv"
    customers.head(20).write_csv(data)
    out = tmp_path / "results.csv"
    result = run_cli("score", str(data), "--models", str(models), "--out", str(out))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr
    assert "distributions is missing" in lines[0]
    assert not out.exists() and not record_path(out).exists()

"""The leakage guard names columns that give the outcome away: alone (single-column ROC AUC) or by
carrying most of the model's weight, and the bundle keeps each warning with its numbers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import xgboost as xgb

from aura_sentinel.bundle import MANIFEST, load_bundle
from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import BundleError
from aura_sentinel.features import FeatureColumn, FeatureSpec, fit_feature_spec
from aura_sentinel.leakage import LeakWarning, contribution_shares, leak_warnings
from aura_sentinel.schema import ColumnRoles, prepare_training_table
from aura_sentinel.training import TrainOptions, train


def _leaks(frame: pl.DataFrame, shares: np.ndarray[Any, Any] | None = None) -> list[LeakWarning]:
    table = prepare_training_table(frame, ColumnRoles(), "t.csv")
    spec = fit_feature_spec(table.features, "t.csv")
    matrix = spec.matrix(table.features, "t.csv")
    weights = np.zeros(len(spec.columns)) if shares is None else shares
    return leak_warnings(matrix, spec, table.outcome, weights)


def _with_churn_score(frame: pl.DataFrame, seed: int = 3) -> pl.DataFrame:
    """A vendor's churn score: churners score 2.2 standard deviations higher (ROC AUC ~0.94)."""
    churned = (frame.get_column("Churn") == "Yes").to_numpy()
    noise = np.random.default_rng(seed).normal(0, 10, churned.size)
    return frame.with_columns(pl.Series("Churn Score", np.round(50 + 22 * churned + noise)))


@pytest.fixture(scope="module")
def leaky_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A churn model trained on a table with a churn score column."""
    folder = tmp_path_factory.mktemp("leaky")
    data = folder / "customers.csv"
    _with_churn_score(generate_customers(600, seed=7)).write_csv(data)
    train(data, folder / "models", TrainOptions(folds=2, policy=False))
    return folder / "models"


def test_a_churn_reason_column_is_a_leak_and_honest_columns_are_not(
    customers: pl.DataFrame,
) -> None:
    churned = customers.get_column("Churn") == "Yes"
    frame = customers.with_columns(
        pl.when(churned).then(pl.lit("Competitor offer")).otherwise(None).alias("Churn Reason"),
        pl.when(churned).then(1.0).otherwise(0.0).alias("Churn Value"),
    )
    leaks = _leaks(frame)
    assert {leak.column for leak in leaks} == {"Churn Reason", "Churn Value"}
    assert {leak.verdict for leak in leaks} == {"leak"}
    assert all(leak.roc_auc >= 0.99 for leak in leaks)


def test_a_score_column_with_roc_auc_094_is_suspiciously_strong(customers: pl.DataFrame) -> None:
    (leak,) = _leaks(_with_churn_score(customers))
    assert leak.column == "Churn Score"
    assert leak.verdict == "suspiciously strong"
    assert 0.9 <= leak.roc_auc < 0.99


def test_a_feature_with_more_than_half_the_weight_is_suspiciously_strong(
    customers: pl.DataFrame,
) -> None:
    table = prepare_training_table(customers, ColumnRoles(), "t.csv")
    spec = fit_feature_spec(table.features, "t.csv")
    shares = np.full(len(spec.columns), 0.4 / (len(spec.columns) - 1))
    shares[spec.names.index("tenure")] = 0.6
    (leak,) = leak_warnings(spec.matrix(table.features, "t.csv"), spec, table.outcome, shares)
    assert leak.column == "tenure"
    assert leak.verdict == "suspiciously strong"
    assert leak.contribution_share == pytest.approx(0.6)
    assert leak.roc_auc < 0.9  # flagged by its weight, not by its own ROC AUC


def test_half_the_weight_exactly_is_not_flagged(customers: pl.DataFrame) -> None:
    table = prepare_training_table(customers, ColumnRoles(), "t.csv")
    spec = fit_feature_spec(table.features, "t.csv")
    shares = np.full(len(spec.columns), 0.5 / (len(spec.columns) - 1))
    shares[spec.names.index("tenure")] = 0.5
    assert leak_warnings(spec.matrix(table.features, "t.csv"), spec, table.outcome, shares) == []


def test_the_only_feature_of_a_model_is_not_flagged_for_its_weight() -> None:
    rng = np.random.default_rng(1)
    outcome = (rng.random(400) < 0.3).astype(np.float32)
    matrix = (rng.normal(size=(400, 1)) + 0.5 * outcome[:, None]).astype(np.float32)
    spec = FeatureSpec(columns=(FeatureColumn("usage", "number"),))
    assert leak_warnings(matrix, spec, outcome, np.array([1.0])) == []


def test_contribution_shares_sum_to_one_and_follow_the_informative_feature() -> None:
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(3000, 3)).astype(np.float32)
    outcome = (matrix[:, 1] + 0.3 * matrix[:, 2] + rng.normal(0, 0.3, 3000) > 0).astype(np.float32)
    data = xgb.DMatrix(matrix, outcome)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, data, 30)
    shares = contribution_shares(booster, matrix, ["q", "q", "q"])
    assert shares.sum() == pytest.approx(1.0)
    assert shares.argmax() == 1 and shares[2] > shares[0]


def test_contribution_shares_of_a_large_table_come_from_a_fixed_sample_of_rows() -> None:
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(50_000, 2)).astype(np.float32)
    outcome = (matrix[:, 0] > 0).astype(np.float32)
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(matrix, outcome), 5)
    first = contribution_shares(booster, matrix, ["q", "q"])
    second = contribution_shares(booster, matrix.copy(), ["q", "q"])
    np.testing.assert_array_equal(first, second)


def test_the_warning_says_what_to_do_with_a_quoted_name() -> None:
    leak = LeakWarning("Churn Score", 0.94, 0.53, "suspiciously strong")
    sentence = leak.sentence()
    assert "suspiciously strong" in sentence and "ROC AUC 0.940" in sentence
    assert "53.0% of the model's weight" in sentence
    assert sentence.endswith("retrain with --exclude 'Churn Score'")


def test_a_trained_bundle_keeps_the_warning_with_its_numbers(leaky_bundle: Path) -> None:
    (leak,) = load_bundle(leaky_bundle).manifest.leakage_warnings
    assert leak.column == "Churn Score" and leak.verdict == "suspiciously strong"
    assert 0.9 <= leak.roc_auc < 0.99
    assert 0 < leak.contribution_share <= 1
    stored = json.loads((leaky_bundle / MANIFEST).read_text())["leakage_warnings"]
    assert stored == [leak.to_json()]


Damage = Callable[[dict[str, Any]], None]


def _set(key: str, value: object) -> Damage:
    def damage(warning: dict[str, Any]) -> None:
        warning[key] = value

    return damage


def _delete(key: str) -> Damage:
    def damage(warning: dict[str, Any]) -> None:
        del warning[key]

    return damage


DAMAGES: dict[str, tuple[Damage, str]] = {
    "an unknown verdict": (_set("verdict", "maybe"), "leakage_warnings[0].verdict"),
    "a missing verdict": (_delete("verdict"), "leakage_warnings[0].verdict is missing"),
    "a missing share": (_delete("contribution_share"), "contribution_share is missing"),
    "a share above 1": (_set("contribution_share", 1.5), "contribution_share is 1.5"),
    "a text ROC AUC": (_set("roc_auc", "high"), "leakage_warnings[0].roc_auc"),
    "a ROC AUC below a half": (_set("roc_auc", 0.2), "roc_auc is 0.2"),
    "a column that is no feature": (_set("column", "Nope"), "'Nope' is not a feature"),
    "an unknown key": (_set("surprise", 1), "leakage_warnings[0].surprise"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_leak_warning_is_refused_naming_its_key(
    case: str, tmp_path: Path, leaky_bundle: Path
) -> None:
    damage, expected = DAMAGES[case]
    models = shutil.copytree(leaky_bundle, tmp_path / "models")
    manifest = json.loads((models / MANIFEST).read_text())
    damage(manifest["leakage_warnings"][0])
    (models / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as refused:
        load_bundle(models)
    assert expected in str(refused.value)

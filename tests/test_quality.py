"""Quality bars on real data, and the shipped bundle's provenance.

The policy bars: on held-out customers, the DQN's exact expected value gets at least 95% of the
optimal gain over doing nothing and beats every baseline; the problem is not trivial (the optimal
action differs from the myopic one for at least 10% of customers, from no action for 20%).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aura_sentinel.bundle import CHURN_MODEL, MANIFEST, POLICY_WEIGHTS, load_bundle
from aura_sentinel.churn import predict_probability
from aura_sentinel.demo import generate_customers
from aura_sentinel.io import read_customers, sha256_file
from aura_sentinel.metrics import roc_auc
from aura_sentinel.training import TrainOptions, TrainSummary, train

from conftest import REPO, TELCO

BASELINES = ("no_action", "always_email", "risk_rule", "myopic")
SHIPPED_DATA = REPO / "data" / "dataset.xls"


@pytest.fixture(scope="module")
def telco_training(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainSummary, Path]:
    """The full default training (churn model and policy) on the real Telco table, once."""
    if not TELCO.is_file():
        pytest.skip(f"the real Telco table is not present at {TELCO}")
    models = tmp_path_factory.mktemp("telco") / "models"
    return train(TELCO, models, TrainOptions()), models


@pytest.fixture(scope="module")
def shipped_retrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default training on the shipped data, once. The shipped data are 7,043 generated
    customers, so its churn model is also the model trained on synthetic customers."""
    models = tmp_path_factory.mktemp("shipped") / "models"
    train(SHIPPED_DATA, models, TrainOptions())
    return models


def _policy_record(models: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((models / MANIFEST).read_text())["policy"]["evaluation"]
    return record


def test_churn_model_on_the_real_telco_table_reaches_the_auc_and_calibration_bar(
    telco_training: tuple[TrainSummary, Path],
) -> None:
    churn = telco_training[0].churn
    assert churn is not None and churn.rows == 7043
    assert churn.metrics["roc_auc"] >= 0.848
    assert churn.metrics["ece"] <= 0.02


def test_policy_on_real_telco_customers_gets_95_percent_of_the_optimal_gain(
    telco_training: tuple[TrainSummary, Path],
) -> None:
    evaluation = _policy_record(telco_training[1])
    assert evaluation["gain_ratio"] >= 0.95
    values = evaluation["value_per_customer"]
    assert all(values["dqn"] > values[name] for name in BASELINES)


def test_retention_problem_on_real_telco_customers_is_not_trivial(
    telco_training: tuple[TrainSummary, Path],
) -> None:
    evaluation = _policy_record(telco_training[1])
    assert evaluation["optimal_differs_from_myopic"] >= 0.10
    assert evaluation["optimal_differs_from_no_action"] >= 0.20


def test_shipped_policy_gets_95_percent_of_the_optimal_gain() -> None:
    evaluation = _policy_record(REPO / "models")
    assert evaluation["gain_ratio"] >= 0.95
    values = evaluation["value_per_customer"]
    assert all(values["dqn"] > values[name] for name in BASELINES)


def test_a_model_trained_on_synthetic_customers_ranks_real_ones(
    telco_csv: Path, shipped_retrained: Path
) -> None:
    """The churn model trained on the shipped data, which are the generator's 7,043 customers
    (seed 42): the same model bytes as training on `generate_customers(7043, seed=42)`."""
    assert read_customers(SHIPPED_DATA).equals(generate_customers(7043, seed=42))
    bundle = load_bundle(shipped_retrained)
    real = read_customers(telco_csv)
    matrix = bundle.spec.matrix(real, str(telco_csv))
    probability = predict_probability(bundle.booster, matrix, bundle.spec.xgboost_types)
    outcome = (real.get_column("Churn") == "Yes").to_numpy()
    assert roc_auc(outcome, probability) >= 0.80


def test_shipped_bundle_verifies_and_was_trained_on_the_shipped_data() -> None:
    bundle = load_bundle(REPO / "models")
    data = REPO / "data" / "dataset.xls"
    assert bundle.manifest.training_data.sha256 == sha256_file(data)
    assert bundle.manifest.policy is not None
    assert bundle.manifest.policy.training_data.sha256 == sha256_file(data)
    assert bundle.manifest.training_data.rows == 7043


def test_retraining_on_the_shipped_data_reproduces_the_shipped_bundle(
    shipped_retrained: Path,
) -> None:
    for name in (CHURN_MODEL, POLICY_WEIGHTS, MANIFEST):
        assert (shipped_retrained / name).read_bytes() == (REPO / "models" / name).read_bytes()

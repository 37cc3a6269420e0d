"""Quality bars on real data, and the shipped bundle's provenance."""

from __future__ import annotations

from pathlib import Path

from aura_sentinel.bundle import CHURN_MODEL, MANIFEST, load_bundle
from aura_sentinel.churn import predict_probability
from aura_sentinel.demo import generate_customers
from aura_sentinel.io import read_customers, sha256_file
from aura_sentinel.metrics import roc_auc
from aura_sentinel.training import TrainOptions, train

from conftest import REPO


def test_churn_model_on_the_real_telco_table_reaches_the_auc_and_calibration_bar(
    telco_csv: Path, tmp_path: Path
) -> None:
    summary = train(telco_csv, tmp_path / "models", TrainOptions())
    assert summary.rows == 7043
    assert summary.metrics["roc_auc"] >= 0.848
    assert summary.metrics["ece"] <= 0.02


def test_a_model_trained_on_synthetic_customers_ranks_real_ones(
    telco_csv: Path, tmp_path: Path
) -> None:
    synthetic = tmp_path / "synthetic.parquet"
    generate_customers(7043, seed=42).write_parquet(synthetic)
    train(synthetic, tmp_path / "models", TrainOptions())
    bundle = load_bundle(tmp_path / "models")
    real = read_customers(telco_csv)
    matrix = bundle.spec.matrix(real, str(telco_csv))
    probability = predict_probability(bundle.booster, matrix, bundle.spec.xgboost_types)
    outcome = (real.get_column("Churn") == "Yes").to_numpy()
    assert roc_auc(outcome, probability) >= 0.80


def test_shipped_bundle_verifies_and_was_trained_on_the_shipped_data() -> None:
    bundle = load_bundle(REPO / "models")
    data = REPO / "data" / "dataset.xls"
    assert bundle.manifest["training_data"]["sha256"] == sha256_file(data)
    assert bundle.manifest["training_data"]["rows"] == 7043


def test_retraining_on_the_shipped_data_reproduces_the_shipped_bundle(tmp_path: Path) -> None:
    train(REPO / "data" / "dataset.xls", tmp_path / "models", TrainOptions())
    for name in (CHURN_MODEL, MANIFEST):
        assert (tmp_path / "models" / name).read_bytes() == (REPO / "models" / name).read_bytes()

"""The model bundle: verified on load, refused when damaged, written atomically, reproducible."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_dqn import SMALL

from aura_sentinel.bundle import (
    CHURN_MODEL,
    FORMAT_VERSION,
    MANIFEST,
    POLICY_WEIGHTS,
    load_bundle,
    policy_weights,
)
from aura_sentinel.errors import BundleError, DataError, UsageError
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.retention.policy import load_network
from aura_sentinel.retention.state import STATE_COLUMNS
from aura_sentinel.schema import ColumnRoles
from aura_sentinel.training import TrainOptions, train

FAST = TrainOptions(folds=3, policy_settings=PolicySettings(dqn=SMALL))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data file, bundle folder) trained once for this module."""
    from aura_sentinel.demo import generate_customers

    folder = tmp_path_factory.mktemp("trained")
    data = folder / "customers.csv"
    generate_customers(800, seed=3).write_csv(data)
    train(data, folder / "models", FAST)
    return data, folder / "models"


@pytest.fixture
def bundle_copy(trained: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(trained[1], copy)
    return copy


def test_bundle_records_roles_features_data_and_metrics(trained: tuple[Path, Path]) -> None:
    bundle = load_bundle(trained[1])
    manifest = bundle.manifest
    assert manifest.roles == ColumnRoles(target="Churn", id="customerID", excluded=())
    assert manifest.training_data.rows == 800
    assert manifest.training_data.file == "customers.csv"
    assert set(manifest.metrics.cv) == {
        "roc_auc", "pr_auc", "accuracy", "f1", "brier", "log_loss", "ece",
    }  # fmt: skip
    assert {"xgboost", "polars", "numpy", "torch"} <= set(manifest.libraries)
    assert json.loads((trained[1] / MANIFEST).read_text())["format_version"] == FORMAT_VERSION
    assert bundle.booster.num_features() == len(bundle.spec.columns)
    assert "customerID" not in bundle.spec.names


def test_training_twice_gives_byte_identical_bundles(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    data, models = trained
    train(data, tmp_path / "again", FAST)
    for name in (CHURN_MODEL, POLICY_WEIGHTS, MANIFEST):
        assert (tmp_path / "again" / name).read_bytes() == (models / name).read_bytes()


def test_a_changed_model_file_is_refused(bundle_copy: Path) -> None:
    model = bundle_copy / CHURN_MODEL
    content = bytearray(model.read_bytes())
    content[len(content) // 2] ^= 0xFF
    model.write_bytes(bytes(content))
    with pytest.raises(BundleError, match="does not match the SHA-256"):
        load_bundle(bundle_copy)


def test_a_missing_model_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / CHURN_MODEL).unlink()
    with pytest.raises(BundleError, match=r"churn_model\.ubj: is missing"):
        load_bundle(bundle_copy)


def test_a_manifest_that_is_not_json_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="is not valid JSON"):
        load_bundle(bundle_copy)


def test_a_bundle_from_a_newer_format_is_refused(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    manifest["format_version"] = 99
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="upgrade aura-sentinel"):
        load_bundle(bundle_copy)


def test_a_feature_list_that_does_not_match_the_model_is_refused(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    removed = manifest["features"]["columns"].pop()
    distributions = manifest["distributions"]  # consistent with the features, as an edit would be
    manifest["distributions"] = [item for item in distributions if item["name"] != removed["name"]]
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"features but bundle\.json lists"):
        load_bundle(bundle_copy)


def test_failed_training_leaves_the_existing_bundle_untouched(
    bundle_copy: Path, tmp_path: Path
) -> None:
    before = {path.name: path.read_bytes() for path in bundle_copy.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text("customerID,tenure,Churn\na,1,Yes\nb,2,Yes\n")
    with pytest.raises(DataError):
        train(bad, bundle_copy, FAST)
    assert {path.name: path.read_bytes() for path in bundle_copy.iterdir()} == before


def test_a_folder_with_other_files_is_never_replaced(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="not replaced"):
        train(trained[0], tmp_path, FAST)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_bundle_holds_the_policy_its_settings_and_its_evaluation(
    trained: tuple[Path, Path],
) -> None:
    bundle = load_bundle(trained[1])
    policy = bundle.manifest.policy
    assert policy is not None
    assert policy.state_columns[0] == "churn_probability"
    assert set(policy.evaluation.values) == {
        "optimal", "dqn", "no_action", "always_email", "risk_rule", "myopic",
        "best_single_action", "treat_the_riskiest",
    }  # fmt: skip
    settings = policy.settings
    assert settings.dqn == SMALL
    load_network(policy_weights(bundle), settings, len(STATE_COLUMNS), "policy.pt")


def test_a_changed_policy_file_is_refused(bundle_copy: Path) -> None:
    weights = bundle_copy / POLICY_WEIGHTS
    weights.write_bytes(weights.read_bytes() + b"x")
    with pytest.raises(BundleError, match="does not match the SHA-256"):
        policy_weights(load_bundle(bundle_copy))


def test_skip_policy_writes_a_bundle_without_a_policy(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    train(trained[0], tmp_path / "m", TrainOptions(folds=3, policy=False))
    bundle = load_bundle(tmp_path / "m")
    assert not (tmp_path / "m" / POLICY_WEIGHTS).exists()
    with pytest.raises(BundleError, match="has no retention policy"):
        policy_weights(bundle)


def test_policy_only_keeps_the_churn_model_and_replaces_the_policy(
    bundle_copy: Path, trained: tuple[Path, Path]
) -> None:
    churn_before = (bundle_copy / CHURN_MODEL).read_bytes()
    policy_before = (bundle_copy / POLICY_WEIGHTS).read_bytes()
    options = TrainOptions(churn=False, seed=11, policy_settings=PolicySettings(dqn=SMALL))
    summary = train(trained[0], bundle_copy, options)
    assert summary.churn is None and summary.policy is not None
    assert (bundle_copy / CHURN_MODEL).read_bytes() == churn_before
    assert (bundle_copy / POLICY_WEIGHTS).read_bytes() != policy_before
    policy = load_bundle(bundle_copy).manifest.policy
    assert policy is not None and policy.seed == 11

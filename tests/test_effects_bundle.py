"""`train --campaigns`: the learned effects in the bundle, verified on load, reproducible, and
refused input that leaves nothing behind."""

from __future__ import annotations

import copy
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from test_dqn import SMALL
from test_manifest import _delete, _dotted, _set, _wrong_type

from aura_sentinel.bundle import MANIFEST, effect_learner, load_bundle
from aura_sentinel.demo_campaigns import generate_campaign_log
from aura_sentinel.effects.learners import LEARNERS
from aura_sentinel.effects.models import EffectModel, effect_model_name
from aura_sentinel.errors import BundleError
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.retention.state import build_state
from aura_sentinel.training import TrainOptions, train

from conftest import run_cli

ROWS = 3_000


def _options(**changes: Any) -> TrainOptions:
    settings = PolicySettings(dqn=SMALL)
    settings = replace(settings, simulator=replace(settings.simulator, campaign_horizon_months=1))
    return replace(TrainOptions(folds=3, policy=False, policy_settings=settings), **changes)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(campaign log, bundle folder): the churn model and the effects both from the log."""
    folder = tmp_path_factory.mktemp("effects")
    log, _ = generate_campaign_log(ROWS, seed=3)
    log.write_csv(folder / "log.csv")
    train(folder / "log.csv", folder / "models", _options(campaigns=folder / "log.csv"))
    return folder / "log.csv", folder / "models"


@pytest.fixture
def bundle_copy(trained: tuple[Path, Path], tmp_path: Path) -> Path:
    shutil.copytree(trained[1], tmp_path / "models")
    return tmp_path / "models"


def test_the_bundle_holds_the_effects_and_their_models(trained: tuple[Path, Path]) -> None:
    log, models = trained
    bundle = load_bundle(models)
    effects = bundle.manifest.effects
    assert effects is not None
    assert effects.log.rows == ROWS and effects.log.file == "log.csv"
    assert effects.horizon_months == 1.0
    assert effects.learner in LEARNERS and set(effects.criteria) == set(LEARNERS)
    assert sum(effects.action_rows) == ROWS and all(effects.tried)
    assert {estimate.action for estimate in effects.average} == {1, 2, 3, 4, 5}
    assert {"logged", "no_action", "recommended"} <= {
        policy.name for policy in effects.off_policy.policies
    }
    learner = effect_learner(bundle)
    assert learner is not None
    customers = pl.read_csv(log).drop("action", "propensity", "Churn").head(50)
    state = build_state(customers, np.full(50, 0.3), 0.3, bundle.manifest.state_sources)
    churn = EffectModel(effects, learner).churn_under(customers, state, "log")
    assert churn.shape == (50, 6) and (churn >= 0).all() and (churn <= 1).all()


def test_the_churn_model_learns_from_the_logs_no_action_rows(
    trained: tuple[Path, Path],
) -> None:
    manifest = load_bundle(trained[1]).manifest
    no_action = pl.read_csv(trained[0]).filter(pl.col("action") == "No action").height
    assert manifest.training_data.rows == no_action
    assert "action" not in manifest.features.names
    assert "propensity" not in manifest.features.names


def test_same_log_and_seed_give_the_same_bundle_bytes_at_any_thread_count(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    log, models = trained
    train(log, tmp_path / "again", _options(campaigns=log, threads=1))
    for path in sorted(models.iterdir()):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name


def _walk(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """(path, value) of `data` and everything in it, every list item included."""
    yield path, data
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        yield from _walk(value, (*path, key))


def _effects_cases(models: Path) -> list[tuple[str, Any, str]]:
    manifest = json.loads((models / MANIFEST).read_text())
    cases = []
    for path, value in _walk(manifest["effects"], ("effects",)):
        if path == ("effects",) or "features" in path:
            continue
        key = _dotted(path)
        name = key.rsplit(".", 1)[-1]  # e.g. offsets[0][1]
        if isinstance(path[-1], str) and "differences" not in path:
            cases.append((f"{key} deleted", _delete(path), name))
        if not isinstance(value, dict | list) and value is not None:
            cases.append((f"{key} of the wrong type", _set(path, _wrong_type(value)), name))
        if isinstance(value, float):
            cases.append((f"{key} NaN", _set(path, math.nan), name))
    return cases


def test_every_damaged_effects_field_is_refused_naming_its_key(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    models = trained[1]
    original = json.loads((models / MANIFEST).read_text())
    cases = _effects_cases(models)
    assert len(cases) > 100
    folder = tmp_path / "models"
    shutil.copytree(models, folder)
    for case, damage, word in cases:
        manifest = copy.deepcopy(original)
        damage(manifest)
        (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        with pytest.raises(BundleError) as error:
            load_bundle(folder)
        message = str(error.value)
        assert word in message and "\n" not in message, (case, message)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("edit", "does not match the SHA-256"),
        ("remove", "is missing"),
    ],
)
def test_a_changed_or_missing_effect_model_is_refused(
    bundle_copy: Path, change: str, message: str
) -> None:
    model = bundle_copy / effect_model_name(0)
    if change == "edit":
        model.write_bytes(model.read_bytes() + b" ")
    else:
        model.unlink()
    with pytest.raises(BundleError, match=message):
        effect_learner(load_bundle(bundle_copy))


def test_a_manifest_listing_too_few_effect_models_is_refused(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    manifest["artifacts"].pop(effect_model_name(0))
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match="effect models"):
        load_bundle(bundle_copy)


def test_retraining_without_a_log_drops_the_effects_and_their_files(
    trained: tuple[Path, Path], bundle_copy: Path
) -> None:
    options = _options(churn=False, policy=True)
    train(trained[0].with_name("log.csv"), bundle_copy, replace(options, campaigns=None))
    assert load_bundle(bundle_copy).manifest.effects is None
    assert not list(bundle_copy.glob("effect_model_*"))


def test_a_bad_campaign_log_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    log, _ = generate_campaign_log(400, seed=4)
    log.with_columns(pl.lit("Send pigeon").alias("action")).write_csv(tmp_path / "log.csv")
    result = run_cli(
        "train", str(tmp_path / "log.csv"), "--campaigns", str(tmp_path / "log.csv"),
        "--models", str(tmp_path / "models"), "--skip-policy",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'Send pigeon' is not in the catalog (row 1" in lines[0]
    assert not (tmp_path / "models").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["log.csv"]


def test_a_named_propensity_column_must_be_there(tmp_path: Path) -> None:
    log, _ = generate_campaign_log(400, seed=4)
    log.write_csv(tmp_path / "log.csv")
    result = run_cli(
        "train", str(tmp_path / "log.csv"), "--campaigns", str(tmp_path / "log.csv"),
        "--propensity-column", "p", "--models", str(tmp_path / "models"), "--skip-policy",
    )  # fmt: skip
    assert result.returncode == 2
    assert "has no column 'p'" in result.stderr and "--propensity-column" in result.stderr


def test_a_log_without_enough_no_action_rows_is_refused(tmp_path: Path) -> None:
    log, _ = generate_campaign_log(2_000, seed=4)
    log = log.filter((pl.col("action") != "No action") | (pl.int_range(pl.len()) < 100))
    log.write_csv(tmp_path / "log.csv")
    generate_campaign_log(400, seed=5)[0].drop("action", "propensity").write_csv(
        tmp_path / "customers.csv"
    )
    result = run_cli(
        "train", str(tmp_path / "customers.csv"), "--campaigns", str(tmp_path / "log.csv"),
        "--models", str(tmp_path / "models"), "--skip-policy",
    )  # fmt: skip
    assert result.returncode == 2
    assert "rows with no action" in result.stderr and len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "models").exists()

"""--threads: the same bytes and the same results at any thread count; bad counts refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from test_simulator import _states

from aura_sentinel.bundle import CHURN_MODEL, MANIFEST, POLICY_WEIGHTS
from aura_sentinel.churn import BoostingSettings, train_churn_model
from aura_sentinel.retention.config import DQNConfig
from aura_sentinel.retention.dqn import train_dqn
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.threads import DEFAULT_CAP, default_threads, torch_threads

from conftest import run_cli

SMALL_POLICY = "[dqn]\niterations = 200\nhidden = 16\n"


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(data, bundle trained with --threads 1, bundle trained with --threads 2)."""
    from aura_sentinel.demo import generate_customers

    folder = tmp_path_factory.mktemp("threads")
    data = folder / "customers.csv"
    generate_customers(600, seed=7).write_csv(data)
    config = folder / "policy.toml"
    config.write_text(SMALL_POLICY)
    for threads in ("1", "2"):
        result = run_cli(
            "train", str(data), "--models", str(folder / f"models{threads}"),
            "--policy-config", str(config), "--folds", "3", "--threads", threads,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    return data, folder / "models1", folder / "models2"


def test_a_bundle_trained_on_one_or_two_threads_is_byte_identical(
    bundles: tuple[Path, Path, Path],
) -> None:
    _, one, two = bundles
    for name in (CHURN_MODEL, POLICY_WEIGHTS, MANIFEST):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_scores_are_identical_on_one_and_two_threads(
    bundles: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    data, models, _ = bundles
    outputs = []
    for threads in ("1", "2"):
        out = tmp_path / f"results{threads}.csv"
        result = run_cli(
            "score", str(data), "--models", str(models), "--out", str(out), "--threads", threads
        )
        assert result.returncode == 0, result.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert pl.read_csv(tmp_path / "results1.csv").height == 600


def test_the_churn_model_does_not_depend_on_the_thread_count() -> None:
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(3000, 6)).astype(np.float32)
    outcome = (matrix[:, 0] + rng.normal(size=3000) > 0.5).astype(np.float32)
    settings = BoostingSettings(depths=(3,), learning_rates=(0.3,), max_rounds=40, patience=5)
    models = [
        train_churn_model(matrix, outcome, ["q"] * 6, 3, settings=settings, threads=threads)
        for threads in (1, 2, 3)
    ]
    first = bytes(models[0].booster.save_raw(raw_format="ubj"))
    assert all(bytes(model.booster.save_raw(raw_format="ubj")) == first for model in models)


def test_the_dqn_trains_on_one_thread_and_gives_the_same_weights_at_any_setting() -> None:
    config = DQNConfig(iterations=120, hidden=16, parallel_customers=64, batch_size=64)
    states = _states(200)
    weights = []
    seen_while_training: set[int] = set()
    for threads in (1, 2):
        with torch_threads(threads):
            network = train_dqn(
                Simulator(),
                states,
                config,
                lambda done, message: seen_while_training.add(torch.get_num_threads()),
            )
            assert torch.get_num_threads() == threads  # restored after training
        weights.append(torch.cat([value.flatten() for value in network.state_dict().values()]))
    assert seen_while_training == {1}
    assert torch.equal(weights[0], weights[1])


def test_the_default_is_the_cores_this_process_may_use_capped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)), raising=False)
    assert default_threads() == DEFAULT_CAP
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert default_threads() == 3


@pytest.mark.parametrize("command", ["train", "score"])
@pytest.mark.parametrize("threads", ["0", "-2", "100000"])
def test_a_thread_count_out_of_range_is_one_line(
    command: str, threads: str, tmp_path: Path
) -> None:
    result = run_cli(command, "--threads", threads, "--models", str(tmp_path / "m"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: --threads") and f"{threads} is out of range" in (
        result.stderr
    )
    assert not (tmp_path / "m").exists()


def test_the_command_line_sets_polars_threads_and_passive_waits_before_they_load() -> None:
    code = (
        "import os; from aura_sentinel.cli import _threads; _threads(1); "
        "import polars; print(polars.thread_pool_size(), os.environ['OMP_WAIT_POLICY'])"
    )
    unset = ("POLARS_MAX_THREADS", "OMP_WAIT_POLICY")
    environment = {key: value for key, value in os.environ.items() if key not in unset}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    assert result.stdout.split() == ["1", "PASSIVE"]

"""Progress in a redirected log: a plain line per stage, throttled; outputs checked up front."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import polars as pl
import pytest

from aura_sentinel import training
from aura_sentinel.errors import AuraError, BundleError, UsageError
from aura_sentinel.render import LINE_SECONDS, ProgressLines
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.training import TrainOptions

from conftest import run_cli

SMALL_POLICY = "[dqn]\niterations = 200\nhidden = 16\n"
# Long enough (about 10 s here) for progress lines, which start after LINE_SECONDS.
LONGER_POLICY = "[dqn]\niterations = 3000\nhidden = 16\n"


WIDE = {**os.environ, "COLUMNS": "200"}


def _run_logged(*args: str, log: Path) -> subprocess.CompletedProcess[str]:
    """Run the command with stderr redirected to the file `log` (stdout captured)."""
    with log.open("w") as stderr:
        return subprocess.run(
            [sys.executable, "-m", "aura_sentinel", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=WIDE,
            check=False,
        )


def _run_piped(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, columns=200)


def _without_timings(summary: str) -> str:
    return re.sub(r"in \d+\.\d s", "in N s", summary)


class Trained(NamedTuple):
    data: Path
    models: Path
    log: Path
    logged: subprocess.CompletedProcess[str]
    piped: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, customers: pl.DataFrame) -> Trained:
    """A small bundle trained twice: with stderr to a log file, then to a pipe."""
    folder = tmp_path_factory.mktemp("progress")
    data = folder / "customers.csv"
    customers.write_csv(data)
    config = folder / "policy.toml"
    config.write_text(LONGER_POLICY)
    models = folder / "m1"
    common = ("--models", str(models), "--policy-config", str(config), "--folds", "3")
    log = folder / "train.log"
    logged = _run_logged("train", str(data), *common, log=log)
    piped = _run_piped("train", str(data), *common)
    return Trained(data, models, log, logged, piped)


def test_a_training_log_gets_a_line_per_stage_and_the_same_summary(trained: Trained) -> None:
    logged, piped = trained.logged, trained.piped
    assert logged.returncode == 0 and piped.returncode == 0, trained.log.read_text() + piped.stderr
    lines = trained.log.read_text().splitlines()
    assert lines and all(line.startswith("train: ") for line in lines), lines
    for stage in (
        "train: policy: ",
        "train: policy trained, examining it on held-out customers",
        f"train: writing the bundle to {trained.models} (100%)",
    ):
        assert any(line.startswith(stage) for line in lines), (stage, lines)
    assert len(lines) < 40  # a line per stage, not per round
    assert _without_timings(logged.stdout) == _without_timings(piped.stdout)
    assert "Model bundle written to" in logged.stdout and "train:" not in logged.stdout
    assert piped.stderr == ""  # a pipe gets no progress lines


def test_a_scoring_log_gets_its_rows_and_the_same_summary(trained: Trained, tmp_path: Path) -> None:
    log = tmp_path / "score.log"
    command = ("score", str(trained.data), "--models", str(trained.models))
    logged = _run_logged(*command, "--out", str(tmp_path / "a.csv"), log=log)
    piped = _run_piped(*command, "--out", str(tmp_path / "a.csv"))
    assert logged.returncode == 0 and piped.returncode == 0, log.read_text() + piped.stderr
    lines = log.read_text().splitlines()
    assert all(line.startswith("score: ") for line in lines), lines  # none in a short run
    assert _without_timings(logged.stdout) == _without_timings(piped.stdout)
    assert piped.stderr == ""


def test_quiet_writes_no_progress_lines_to_the_log(trained: Trained, tmp_path: Path) -> None:
    log = tmp_path / "score.log"
    out = tmp_path / "a.csv"
    command = ("score", str(trained.data), "--models", str(trained.models), "--quiet")
    result = _run_logged(*command, "--out", str(out), log=log)
    assert result.returncode == 0 and out.exists()
    assert log.read_text() == "" and result.stdout == ""


def test_lines_come_at_each_new_stage_and_at_most_every_few_seconds_within_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = [0.0]
    lines = ProgressLines("train", clock=lambda: now[0])
    lines.fraction(0.0, "reading data.csv")  # the first seconds: nothing
    now[0] = LINE_SECONDS
    lines.fraction(0.1, "policy: iteration 100")
    now[0] = LINE_SECONDS + 1.0
    lines.fraction(0.2, "policy: iteration 200")  # same stage, too soon: not shown
    now[0] = 2 * LINE_SECONDS + 1.0
    lines.fraction(0.3, "policy: iteration 300")
    lines.fraction(1.0, "writing the bundle to models")  # a new stage: shown at once
    assert capsys.readouterr().err.splitlines() == [
        "train: policy: iteration 100 (10%)",
        "train: policy: iteration 300 (30%)",
        "train: writing the bundle to models (100%)",
    ]


def test_a_refused_bundle_folder_ends_a_logged_run_before_reading(
    customers_csv: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "notes.txt").write_text("mine")
    log = tmp_path / "train.log"
    result = _run_logged("train", str(customers_csv), "--models", str(models), log=log)
    lines = log.read_text().splitlines()
    assert result.returncode == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "holds other files" in lines[0]


# -- every output is checked before any training -------------------------------------------


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training of either model fails the test."""

    def trained(*args: object, **kwargs: object) -> None:
        raise AssertionError("training started")

    monkeypatch.setattr(training, "train_churn_model", trained)
    # `train` imports the policy's module (and torch) only when it trains the policy.
    monkeypatch.setattr("aura_sentinel.retention.policy.train_policy", trained)


def _folder_with_a_foreign_file(folder: Path, data: Path) -> tuple[Path, TrainOptions]:
    (folder / "models").mkdir()
    (folder / "models" / "notes.txt").write_text("mine")
    return folder / "models", TrainOptions()


def _folder_under_a_file(folder: Path, data: Path) -> tuple[Path, TrainOptions]:
    (folder / "plain.txt").write_text("a file, not a folder")
    return folder / "plain.txt" / "models", TrainOptions()


def _folder_holding_the_data(folder: Path, data: Path) -> tuple[Path, TrainOptions]:
    return data.parent, TrainOptions()


def _folder_replacing_the_policy_config(folder: Path, data: Path) -> tuple[Path, TrainOptions]:
    (folder / "models").mkdir()
    config = folder / "models" / "policy.pt"  # a bundle file's name: the bundle would replace it
    config.write_text(SMALL_POLICY)
    return folder / "models", TrainOptions(policy_config=config)


def _policy_only_without_a_bundle(folder: Path, data: Path) -> tuple[Path, TrainOptions]:
    (folder / "models").mkdir()
    return folder / "models", TrainOptions(churn=False)


def _policy_only_with_a_foreign_file(folder: Path, data: Path) -> tuple[Path, TrainOptions]:
    models, _ = _folder_with_a_foreign_file(folder, data)
    return models, TrainOptions(churn=False)


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        (_folder_with_a_foreign_file, UsageError, "holds other files"),
        (_folder_under_a_file, UsageError, "is a file"),
        (_folder_holding_the_data, UsageError, "holds other files"),
        (_folder_replacing_the_policy_config, UsageError, "would replace an input"),
        (_policy_only_without_a_bundle, BundleError, "bundle.json"),
        (_policy_only_with_a_foreign_file, UsageError, "holds other files"),
    ],
)
@pytest.mark.usefixtures("no_training")
def test_a_bundle_folder_that_will_be_refused_is_refused_before_training(
    case: object, error: type[AuraError], words: str, tmp_path: Path, customers: pl.DataFrame
) -> None:
    data = tmp_path / "data" / "customers.csv"
    data.parent.mkdir()
    customers.write_csv(data)
    assert callable(case)
    models, options = case(tmp_path, data)
    options = TrainOptions(
        churn=options.churn, policy_config=options.policy_config, policy_settings=PolicySettings()
    )
    before = sorted(path.name for path in tmp_path.rglob("*"))
    with pytest.raises(error, match=words):
        training.train(data, models, options)
    assert sorted(path.name for path in tmp_path.rglob("*")) == before  # nothing left behind

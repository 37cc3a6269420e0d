"""`score --engine ray` on a local Ray of 2 CPUs: the same results as the single-process command."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest

from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.pipeline import ScoreSettings, ScoreSummary, score_file

from conftest import REPO, run_cli

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'aura-sentinel[ray]')")

from aura_sentinel.ray_engine import score_on_ray  # noqa: E402

MODELS = REPO / "models"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """4,000 customers in four Parquet files of different sizes, and the same rows in one file."""
    folder = tmp_path_factory.mktemp("parts")
    table = generate_customers(4000, seed=13).with_columns(  # a level training never saw
        pl.when(pl.int_range(pl.len()) % 500 == 7)
        .then(pl.lit("Three year"))
        .otherwise(pl.col("Contract"))
        .alias("Contract")
    )
    for index, (start, stop) in enumerate([(0, 700), (700, 2100), (2100, 2600), (2600, 4000)]):
        table[start:stop].write_parquet(folder / f"part-{index}.parquet")
    whole = tmp_path_factory.mktemp("whole") / "customers.parquet"
    table.write_parquet(whole)
    return folder, whole


class Scored(NamedTuple):
    """The parts scored on Ray and the whole table scored by the command, with one setting."""

    ray: ScoreSummary
    ray_results: Path
    single: ScoreSummary
    single_results: Path


def _scored(parts: tuple[Path, Path], folder: Path, settings: ScoreSettings) -> Scored:
    parts_folder, whole = parts
    summary = score_on_ray(str(parts_folder), MODELS, folder / "ray", settings)
    single = folder / "single.parquet"
    return Scored(summary, folder / "ray", score_file(whole, MODELS, single, settings), single)


@pytest.fixture(scope="module")
def scored_with_drivers(
    local_ray: None, parts: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Scored:
    """With the default settings (drivers explained), once: two tests read it (not write)."""
    return _scored(parts, tmp_path_factory.mktemp("with_drivers"), ScoreSettings())


@pytest.mark.parametrize("explain", [True, False])
def test_ray_gives_the_same_results_as_the_command(
    local_ray: None,
    parts: tuple[Path, Path],
    tmp_path: Path,
    explain: bool,
    request: pytest.FixtureRequest,
) -> None:
    if explain:
        scored: Scored = request.getfixturevalue("scored_with_drivers")
    else:
        scored = _scored(parts, tmp_path, ScoreSettings(explain=False))
    summary, expected = scored.ray, scored.single
    distributed = pl.read_parquet(scored.ray_results).sort("CustomerID")
    assert distributed.equals(pl.read_parquet(scored.single_results).sort("CustomerID"))
    assert summary.customers == expected.customers == 4000
    assert summary.risk_counts == expected.risk_counts
    np.testing.assert_array_equal(summary.action_counts, expected.action_counts)
    np.testing.assert_allclose(summary.action_costs, expected.action_costs)
    np.testing.assert_allclose(summary.action_gains, expected.action_gains)
    assert summary.probability_sum == pytest.approx(expected.probability_sum)
    if explain:  # the global drivers, summed on the cluster
        assert summary.driver_weight is not None and expected.driver_weight is not None
        np.testing.assert_allclose(summary.driver_weight, expected.driver_weight, rtol=1e-9)
    else:
        assert summary.driver_weight is None
    assert summary.unseen_levels == expected.unseen_levels == {"Contract": 8}
    assert summary.drift == expected.drift and summary.drift["Contract"] > 0  # bins summed too
    assert summary.out_of_range == expected.out_of_range


@pytest.mark.parametrize("share", [0.05, 0.4])
def test_a_budget_gives_the_same_plan_as_the_command(
    local_ray: None, parts: tuple[Path, Path], tmp_path: Path, share: float
) -> None:
    """The plan is found from sums over blocks on Ray, in one process on the whole table."""
    folder, whole = parts
    settings = ScoreSettings(explain=False)
    unconstrained = score_file(whole, MODELS, tmp_path / "free.parquet", settings)
    budget = share * float(unconstrained.action_costs.sum())
    summary = score_on_ray(str(folder), MODELS, tmp_path / "ray", settings, budget=budget)
    single = tmp_path / "single.parquet"
    expected = score_file(whole, MODELS, single, settings, budget=budget)
    distributed = pl.read_parquet(tmp_path / "ray").sort("CustomerID")
    assert distributed.equals(pl.read_parquet(single).sort("CustomerID"))
    assert expected.action_costs.sum() <= budget
    assert expected.action_costs.sum() > 0.99 * budget  # the fill spent what was left
    np.testing.assert_array_equal(summary.action_counts, expected.action_counts)
    assert summary.unconstrained_cost == pytest.approx(expected.unconstrained_cost)
    assert summary.unconstrained_gain == pytest.approx(expected.unconstrained_gain)


def test_a_budget_refuses_repeated_ids(
    local_ray: None, parts: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = parts
    twice = tmp_path / "twice"
    twice.mkdir()
    part = pl.read_parquet(folder / "part-0.parquet")
    part.write_parquet(twice / "a.parquet")
    part.head(3).write_parquet(twice / "b.parquet")
    with pytest.raises(DataError, match="appears 2 times"):
        score_on_ray(str(twice), MODELS, tmp_path / "r", ScoreSettings(), budget=100.0)


def test_a_glob_selects_files(local_ray: None, parts: tuple[Path, Path], tmp_path: Path) -> None:
    folder, _ = parts
    summary = score_on_ray(
        str(folder / "part-[01].parquet"), MODELS, tmp_path / "r", ScoreSettings()
    )
    assert summary.customers == 2100


def test_a_folder_with_other_files_is_never_replaced(
    local_ray: None, parts: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = parts
    out = tmp_path / "documents"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds other files"):
        score_on_ray(str(folder), MODELS, out, ScoreSettings())
    assert (out / "notes.txt").read_text() == "mine"


def test_no_parquet_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no Parquet files found"):
        score_on_ray(str(tmp_path / "*.parquet"), MODELS, tmp_path / "r", ScoreSettings())


def test_without_ray_the_message_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(UsageError, match=r"aura-sentinel\[ray\]"):
        score_on_ray("anything", MODELS, Path("out"), ScoreSettings())


def test_the_command_line_scores_on_ray_and_prints_the_summary(
    parts: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, _ = parts
    out = tmp_path / "results"
    result = run_cli(
        "score", str(folder), "--engine", "ray", "--models", str(MODELS), "--out", str(out),
        "--budget", "500", "--no-explain",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Scored 4,000 customers" in result.stdout and "Action plan" in result.stdout
    assert "Budget 500.00: spent" in result.stdout
    results = pl.read_parquet(out)
    assert results.height == 4000 and results.get_column("ActionCost").sum() <= 500
    refused = run_cli("score", str(folder), "--engine", "ray", "--budget", "-1", "--out", str(out))
    assert refused.returncode == 2 and "--budget" in refused.stderr


def test_report_reads_the_ray_results_folder(scored_with_drivers: Scored, tmp_path: Path) -> None:
    from aura_sentinel.report import make_report

    scored = scored_with_drivers
    distributed, _ = make_report(scored.ray_results, MODELS, tmp_path / "ray.html")
    single, _ = make_report(scored.single_results, MODELS, tmp_path / "single.html")
    assert distributed.customers == single.customers == 4000
    assert distributed.risk.counts == single.risk.counts
    assert [line.customers for line in distributed.plan] == [line.customers for line in single.plan]
    assert distributed.outcomes is not None and single.outcomes is not None
    assert distributed.outcomes.roc_auc == pytest.approx(single.outcomes.roc_auc)


@pytest.mark.parametrize(
    ("budget", "settings"),
    [(float("nan"), ScoreSettings()), (-1.0, ScoreSettings()), (None, ScoreSettings(high=0.2))],
)
def test_ray_refuses_what_the_command_refuses(
    budget: float | None, settings: ScoreSettings, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"--budget|--high"):
        score_on_ray(str(tmp_path), MODELS, tmp_path / "out", settings, budget=budget)

"""The Python API: `aura_sentinel.score` on Polars and pandas frames, like `score` on a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from test_output_formats import small_bundle_in

import aura_sentinel
from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.shipped import shipped_models

from conftest import REPO


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_bundle_in(tmp_path_factory)


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return generate_customers(300, seed=12)


def _scored_by_cli(
    tmp_path: Path, table: pl.DataFrame, models: Path, budget: float | None = None
) -> pl.DataFrame:
    """Parquet in (the frame's types: a CSV holds 111.0 where the frame has 111), Parquet out
    (full precision)."""
    data, out = tmp_path / "customers.parquet", tmp_path / "results.parquet"
    table.write_parquet(data)
    score_file(data, models, out, ScoreSettings(), budget=budget)
    return pl.read_parquet(out)


def test_a_polars_frame_gets_the_results_the_command_writes(
    tmp_path: Path, table: pl.DataFrame, models: Path
) -> None:
    results = aura_sentinel.score(table, models=models)
    assert isinstance(results, pl.DataFrame)
    assert results.equals(_scored_by_cli(tmp_path, table, models))


def test_a_budget_gives_the_plan_the_command_gives(
    tmp_path: Path, table: pl.DataFrame, models: Path
) -> None:
    free = aura_sentinel.score(table, models, explain=False)
    budget = 0.3 * free.get_column("ActionCost").sum()
    planned = aura_sentinel.score(table, models, budget=budget)
    assert planned.equals(_scored_by_cli(tmp_path, table, models, budget))
    assert planned.get_column("ActionCost").sum() <= budget


def test_thresholds_and_explain_are_applied(table: pl.DataFrame, models: Path) -> None:
    results = aura_sentinel.score(table, models, high=0.5, medium=0.2, explain=False)
    probability = results.get_column("ChurnProbability")
    high = results.filter(pl.col("RiskLevel") == "HIGH").get_column("ChurnProbability")
    assert high.len() == int((probability > 0.5).sum())
    assert results.get_column("TopDrivers").null_count() == table.height


def test_a_pandas_frame_gets_a_pandas_frame_with_the_same_results(
    table: pl.DataFrame, models: Path
) -> None:
    pandas = pytest.importorskip("pandas")
    results = aura_sentinel.score(table.to_pandas(), models)
    assert isinstance(results, pandas.DataFrame)
    assert list(results.columns) == aura_sentinel.score(table, models).columns
    assert pl.from_pandas(results).equals(aura_sentinel.score(table, models))


def test_a_table_without_the_id_column_raises_a_data_error(
    table: pl.DataFrame, models: Path
) -> None:
    with pytest.raises(DataError, match="customerID"):
        aura_sentinel.score(table.drop("customerID"), models)


def test_text_in_a_number_column_raises_a_data_error_naming_it(
    table: pl.DataFrame, models: Path
) -> None:
    bad = table.with_columns(pl.col("tenure").cast(pl.String)).with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("lots"))
        .otherwise("tenure")
        .alias("tenure")
    )
    with pytest.raises(DataError, match="tenure") as raised:
        aura_sentinel.score(bad, models)
    assert raised.value.where == "customers frame"


def test_an_empty_frame_raises_a_data_error(table: pl.DataFrame, models: Path) -> None:
    with pytest.raises(DataError, match="no customers"):
        aura_sentinel.score(table.head(0), models)


def test_something_other_than_a_frame_raises_a_usage_error(models: Path) -> None:
    with pytest.raises(UsageError, match="not a DataFrame"):
        aura_sentinel.score([{"customerID": "1"}], models)


def test_bad_settings_raise_a_usage_error(table: pl.DataFrame, models: Path) -> None:
    with pytest.raises(UsageError, match="--budget"):
        aura_sentinel.score(table, models, budget=-1.0)
    with pytest.raises(UsageError, match="--high/--medium"):
        aura_sentinel.score(table, models, high=0.2, medium=0.5)
    with pytest.raises(UsageError, match="--threads"):
        aura_sentinel.score(table, models, threads=0)


def test_scoring_writes_no_file(
    tmp_path: Path, table: pl.DataFrame, models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    aura_sentinel.score(table, models)
    assert list(tmp_path.iterdir()) == []


def test_the_default_models_are_the_shipped_bundle_not_the_working_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bundle.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    shipped = shipped_models()  # the checkout's models/, or the wheel's copy of it
    assert shipped.resolve() != (tmp_path / "models").resolve()
    assert (shipped / "bundle.json").read_bytes() == (REPO / "models" / "bundle.json").read_bytes()


def test_importing_the_package_does_not_load_xgboost_or_torch() -> None:
    probe = (
        "import sys, aura_sentinel; "
        "heavy = [m for m in ('xgboost', 'torch', 'polars') if m in sys.modules]; "
        "assert not heavy, heavy; "
        "assert callable(aura_sentinel.score) and 'xgboost' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

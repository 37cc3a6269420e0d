"""Tests for the synthetic campaign log with known effects (`demo-data --campaigns`)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aura_sentinel.demo import generate_customers
from aura_sentinel.demo_campaigns import (
    ACTION_NAMES,
    LOG_HORIZON_MONTHS,
    MAX_EFFECT,
    MIN_EFFECT,
    MIN_PROPENSITY,
    assignment_probabilities,
    baseline_churn_probability,
    generate_campaign_log,
    true_churn,
    true_effects,
    truth_path,
)
from aura_sentinel.io import write_tables

from conftest import run_cli

TRUTH_COLUMNS = [f"true_churn_{index}" for index in range(6)]
EMAIL, SMS, DISCOUNT_10, DISCOUNT_20, CALL = 1, 2, 3, 4, 5


@pytest.fixture(scope="module")
def small_log() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate_campaign_log(2_000, seed=7)


@pytest.fixture(scope="module")
def large_log() -> tuple[pl.DataFrame, pl.DataFrame]:
    # Large enough to measure one-month churn rates (about 2%) per action to a few tenths of a
    # point.
    return generate_campaign_log(200_000, seed=11)


@pytest.fixture(scope="module")
def population() -> pl.DataFrame:
    return generate_customers(20_000, seed=5).drop("Churn")


def _csv_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def _action_ids(log: pl.DataFrame) -> np.ndarray:
    return np.array([ACTION_NAMES.index(name) for name in log.get_column("action").to_list()])


def test_same_seed_gives_identical_bytes() -> None:
    first, second = generate_campaign_log(500, seed=3), generate_campaign_log(500, seed=3)
    assert _csv_bytes(first[0]) == _csv_bytes(second[0])
    assert _csv_bytes(first[1]) == _csv_bytes(second[1])


def test_different_seeds_give_different_logs() -> None:
    first, second = generate_campaign_log(500, seed=3)[0], generate_campaign_log(500, seed=4)[0]
    for column in ("customerID", "action", "propensity"):
        assert not first[column].equals(second[column]), column


@pytest.mark.parametrize("rows", [0, -1])
def test_rows_below_one_raise_value_error(rows: int) -> None:
    with pytest.raises(ValueError, match="rows"):
        generate_campaign_log(rows)


def test_log_columns_are_the_customers_then_action_propensity_and_churn(
    small_log: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    log, _ = small_log
    customer_columns = [name for name in generate_customers(1).columns if name != "Churn"]
    assert log.columns == [*customer_columns, "action", "propensity", "Churn"]
    assert log.schema["action"] == pl.String
    assert log.schema["propensity"] == pl.Float64
    assert set(log.get_column("action").unique().to_list()) == set(ACTION_NAMES)
    assert set(log.get_column("Churn").unique().to_list()) == {"Yes", "No"}


def test_log_customers_are_the_demo_population_for_the_same_seed(
    small_log: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    log, _ = small_log
    customers = generate_customers(2_000, seed=7).drop("Churn")
    assert_frame_equal(log.select(customers.columns), customers)


def test_truth_has_one_float_column_per_action_and_one_row_per_log_row(
    small_log: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    log, truth = small_log
    assert truth.columns == TRUTH_COLUMNS
    assert all(dtype == pl.Float64 for dtype in truth.dtypes)
    assert truth.height == log.height
    # Row-aligned: the truth of each row is computed from that row's customer.
    np.testing.assert_array_equal(truth.to_numpy(), true_churn(log))


@pytest.mark.parametrize(
    ("log", "truth"),
    [
        ("log.csv", "log.truth.csv"),
        ("out/log.parquet", "out/log.truth.parquet"),
        ("campaigns.2024.xls", "campaigns.2024.truth.xls"),
    ],
)
def test_truth_path_is_stem_dot_truth_suffix_beside_the_log(log: str, truth: str) -> None:
    assert truth_path(Path(log)) == Path(truth)


def test_assignment_probabilities_keep_overlap_and_sum_to_one(population: pl.DataFrame) -> None:
    probabilities = assignment_probabilities(population)
    assert probabilities.shape == (population.height, len(ACTION_NAMES))
    assert probabilities.min() >= MIN_PROPENSITY
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)


def test_targeting_gives_discounts_to_riskier_customers(population: pl.DataFrame) -> None:
    probabilities = assignment_probabilities(population)
    risk = baseline_churn_probability(population)
    riskiest = risk > np.quantile(risk, 0.8)
    safest = risk < np.quantile(risk, 0.2)
    for action in (DISCOUNT_10, DISCOUNT_20, CALL):
        assert probabilities[riskiest, action].mean() > 1.5 * probabilities[safest, action].mean()


def test_logged_propensity_is_the_probability_of_the_logged_action(
    small_log: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    log, _ = small_log
    probabilities = assignment_probabilities(log)
    logged = probabilities[np.arange(log.height), _action_ids(log)]
    propensity = log.get_column("propensity").to_numpy()
    np.testing.assert_array_equal(propensity, logged)
    assert propensity.min() >= MIN_PROPENSITY and propensity.max() <= 1.0


def test_actions_are_drawn_with_their_probabilities(
    large_log: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    log, _ = large_log
    expected = assignment_probabilities(log).mean(axis=0)
    shares = np.bincount(_action_ids(log), minlength=len(ACTION_NAMES)) / log.height
    noise = np.sqrt(expected * (1 - expected) / log.height)
    assert np.all(np.abs(shares - expected) < 4 * noise), (shares, expected)


def test_churn_rate_by_action_agrees_with_the_truth(
    large_log: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    log, truth = large_log
    churned = (log.get_column("Churn") == "Yes").to_numpy()
    actions = _action_ids(log)
    for action in range(len(ACTION_NAMES)):
        rows = actions == action
        expected = truth.get_column(f"true_churn_{action}").to_numpy()[rows]
        noise = np.sqrt(np.sum(expected * (1 - expected))) / rows.sum()
        assert abs(churned[rows].mean() - expected.mean()) < 4 * noise, ACTION_NAMES[action]


def test_baseline_is_the_demo_churn_model(population: pl.DataFrame) -> None:
    customers = generate_customers(20_000, seed=5)
    risk = baseline_churn_probability(population)
    churned = (customers.get_column("Churn") == "Yes").to_numpy()
    for contract in ("Month-to-month", "One year", "Two year"):
        rows = (customers.get_column("Contract") == contract).to_numpy()
        noise = np.sqrt(np.sum(risk[rows] * (1 - risk[rows]))) / rows.sum()
        assert abs(churned[rows].mean() - risk[rows].mean()) < 4 * noise, contract


def test_true_churn_is_the_monthly_hazard_less_the_effect(population: pl.DataFrame) -> None:
    assert LOG_HORIZON_MONTHS == 1
    churn = true_churn(population)
    effects = true_effects(population)
    hazard = 1.0 - (1.0 - baseline_churn_probability(population)) ** (1 / 12)
    np.testing.assert_allclose(churn[:, 0], hazard, rtol=1e-12)
    np.testing.assert_allclose(churn, hazard[:, None] * (1.0 - effects), rtol=1e-12)


def test_effects_are_within_their_bounds_and_no_action_does_nothing(
    population: pl.DataFrame,
) -> None:
    effects = true_effects(population)
    assert np.all(effects[:, 0] == 0.0)
    assert effects.min() >= MIN_EFFECT
    assert effects.max() <= MAX_EFFECT


def test_nothing_helps_two_year_customers_and_a_call_backfires(population: pl.DataFrame) -> None:
    effects = true_effects(population)
    churn = true_churn(population)
    two_year = (population.get_column("Contract") == "Two year").to_numpy()
    assert two_year.sum() > 1_000
    assert np.all(effects[two_year, 1:CALL] == 0.0)
    assert np.all(churn[two_year, CALL] > churn[two_year, 0])


def test_messages_backfire_for_customers_of_more_than_four_years(population: pl.DataFrame) -> None:
    effects = true_effects(population)
    tenure = population.get_column("tenure").to_numpy()
    contract = population.get_column("Contract").to_numpy()
    loyal = (tenure > 48) & (contract != "Two year")
    assert loyal.sum() > 500
    assert np.all(effects[loyal][:, [EMAIL, SMS]] < 0)
    assert np.all(effects[~loyal & (contract != "Two year")][:, [EMAIL, SMS]] > 0)


def test_new_month_to_month_customers_gain_most(population: pl.DataFrame) -> None:
    effects = true_effects(population)
    tenure = population.get_column("tenure").to_numpy()
    contract = population.get_column("Contract").to_numpy()
    new = (tenure <= 3) & (contract == "Month-to-month")
    settled = (tenure >= 24) & (tenure <= 48) & (contract == "Month-to-month")
    one_year = (tenure <= 3) & (contract == "One year")
    assert new.sum() > 500 and settled.sum() > 500
    with_internet = (population.get_column("InternetService") != "No").to_numpy()
    assert np.all(effects[new & with_internet][:, [DISCOUNT_20, CALL]] >= 0.6)
    for action in range(1, len(ACTION_NAMES)):
        assert effects[new, action].mean() > 1.5 * effects[settled, action].mean()
        if one_year.any():
            assert effects[new, action].mean() > effects[one_year, action].mean()


def test_discounts_work_most_on_fiber_and_least_without_internet(
    population: pl.DataFrame,
) -> None:
    effects = true_effects(population)
    internet = population.get_column("InternetService").to_numpy()
    settled = (
        (population.get_column("Contract") == "Month-to-month")
        & (population.get_column("tenure") >= 24)
        & (population.get_column("tenure") <= 48)
    ).to_numpy()
    mean = {kind: effects[settled & (internet == kind), DISCOUNT_10].mean() for kind in
            ("Fiber optic", "DSL", "No")}  # fmt: skip
    assert mean["Fiber optic"] > mean["DSL"] > mean["No"] > 0


def test_write_tables_writes_every_table_or_none(tmp_path: Path) -> None:
    good = pl.DataFrame({"a": [1, 2]})
    unwritable_as_csv = pl.DataFrame({"a": [[1], [2]]})  # CSV has no list columns
    first, second = tmp_path / "first.parquet", tmp_path / "second.csv"
    with pytest.raises(pl.exceptions.ComputeError):
        write_tables({first: good, second: unwritable_as_csv})
    assert list(tmp_path.iterdir()) == []
    write_tables({first: good, second: good})
    assert_frame_equal(pl.read_parquet(first), good)
    assert_frame_equal(pl.read_csv(second), good)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_cli_writes_the_log_and_its_truth_beside_it(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"log{suffix}"
    result = run_cli(
        "demo-data", "--campaigns", "--rows", "300", "--seed", "9", "--out", str(out), columns=400
    )
    assert result.returncode == 0, result.stderr
    truth = tmp_path / f"log.truth{suffix}"
    assert sorted(tmp_path.iterdir()) == sorted([out, truth])
    read = pl.read_csv if suffix == ".csv" else pl.read_parquet
    log_read, truth_read = read(out), read(truth)
    expected_log, expected_truth = generate_campaign_log(300, seed=9)
    assert log_read.columns == expected_log.columns and log_read.height == 300
    assert_frame_equal(truth_read, expected_truth)
    assert log_read.get_column("action").to_list() == expected_log.get_column("action").to_list()
    assert str(out) in result.stdout and str(truth) in result.stdout
    assert "one month" in result.stdout and "campaign_horizon_months = 1" in result.stdout


@pytest.mark.parametrize("rows", ["0", "20000001"])
def test_cli_refuses_rows_out_of_range_and_writes_nothing(tmp_path: Path, rows: str) -> None:
    result = run_cli("demo-data", "--campaigns", "--rows", rows, "--out", str(tmp_path / "log.csv"))
    assert result.returncode == 2
    assert "--rows" in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_truth_path_it_cannot_write_and_leaves_the_log_alone(
    tmp_path: Path,
) -> None:
    out = tmp_path / "log.csv"
    out.write_text("an earlier log\n")
    (tmp_path / "log.truth.csv").mkdir()  # the truth cannot replace a folder
    result = run_cli("demo-data", "--campaigns", "--rows", "100", "--out", str(out))
    assert result.returncode == 2
    assert "log.truth.csv" in result.stderr and "is a folder" in result.stderr
    assert out.read_text() == "an earlier log\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["log.csv", "log.truth.csv"]


def test_cli_refuses_too_many_rows_for_xls_before_writing_either_file(tmp_path: Path) -> None:
    out = tmp_path / "log.xls"
    result = run_cli("demo-data", "--campaigns", "--rows", "70000", "--out", str(out))
    assert result.returncode == 2
    assert "do not fit in an .xls sheet" in result.stderr
    assert list(tmp_path.iterdir()) == []

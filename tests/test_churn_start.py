"""What the effect learners start from: the churn model's risk over the log's horizon,
recalibrated on the log's no-action rows."""

from __future__ import annotations

import numpy as np

from aura_sentinel.effects.start import ChurnStart


def _no_action_rows(
    rows: int, power: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Churn model probabilities over a year, and outcomes drawn over the log's horizon as the
    simulator reads the year: 1 - (1 - p) ** power."""
    rng = np.random.default_rng(seed)
    yearly = rng.uniform(0.02, 0.9, rows)
    truth = 1.0 - (1.0 - yearly) ** power
    return yearly, truth, (rng.random(rows) < truth).astype(np.float64)


def test_when_the_horizons_agree_the_start_is_the_simulators_reading() -> None:
    yearly, truth, churned = _no_action_rows(40_000, 1 / 12, seed=1)
    start = ChurnStart.fitted(yearly, churned, 1 / 12)
    assert abs(start.slope - 1.0) < 0.1 and abs(start.intercept) < 0.3
    assert np.max(np.abs(start.apply(yearly) - truth)) < 0.01


def test_a_churn_model_over_another_window_is_recalibrated_to_the_log() -> None:
    """The churn model learned churn within the log's own month (its probabilities are monthly),
    while the settings say a year: read as a year, they would say about a twelfth."""
    rng = np.random.default_rng(2)
    monthly = rng.uniform(0.01, 0.3, 40_000)
    churned = (rng.random(monthly.size) < monthly).astype(np.float64)
    start = ChurnStart.fitted(monthly, churned, 1 / 12)
    naive = 1.0 - (1.0 - monthly) ** (1 / 12)
    assert np.mean(np.abs(naive - monthly)) > 0.05
    assert np.mean(np.abs(start.apply(monthly) - monthly)) < 0.01
    assert abs(start.apply(monthly).mean() - churned.mean()) < 0.002


def test_no_action_rows_that_all_stayed_give_a_finite_small_start() -> None:
    yearly = np.linspace(0.05, 0.5, 300)
    start = ChurnStart.fitted(yearly, np.zeros(300), 1 / 12)
    values = start.apply(yearly)
    assert np.isfinite([start.intercept, start.slope]).all()
    assert np.all(values < 0.01) and np.all(values >= 0)


def test_the_start_round_trips_through_its_record() -> None:
    start = ChurnStart(power=0.5, intercept=-0.25, slope=1.5)
    assert ChurnStart(**start.to_json()) == start

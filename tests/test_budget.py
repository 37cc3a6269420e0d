"""Budget allocation: never over budget, and close to the exact optimum."""

from __future__ import annotations

import numpy as np
import pytest

from aura_sentinel.budget import allocate

SHARES = np.array([0.0, 0.01, 0.02, 0.10, 0.20, 0.35])


def _problem(customers: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gains that rise with spend at a diminishing, customer-specific rate; whole-cent costs."""
    rng = np.random.default_rng(seed)
    charge = rng.integers(2000, 12000, customers)  # cents
    cost = np.rint(SHARES[None, :] * charge[:, None])
    value = rng.gamma(2.0, 1.0, customers)[:, None]
    gain = value * np.sqrt(cost) * rng.uniform(0.5, 1.5, (customers, 6)) - 0.2 * cost
    gain[:, 0] = 0.0
    return gain, cost


def _exact_best_gain(gain: np.ndarray, cost: np.ndarray, budget: int) -> float:
    """Multiple-choice knapsack by dynamic programming over whole-cent budgets."""
    best = np.zeros(budget + 1)
    for row_gain, row_cost in zip(gain, cost.astype(int), strict=True):
        options = np.full((len(row_gain), budget + 1), -np.inf)
        for action, (g, c) in enumerate(zip(row_gain, row_cost, strict=True)):
            if c <= budget:
                options[action, c:] = best[: budget + 1 - c] + g
        best = options.max(axis=0)
    return float(best[budget])


@pytest.mark.parametrize("seed", range(8))
def test_budget_is_never_exceeded_and_gain_is_within_one_percent_of_exact(seed: int) -> None:
    gain, cost = _problem(60, seed)
    unconstrained = cost[np.arange(60), gain.argmax(axis=1)].sum()
    budget = int(0.3 * unconstrained)
    actions = allocate(gain, cost, budget)
    rows = np.arange(60)
    assert cost[rows, actions].sum() <= budget
    assert gain[rows, actions].sum() >= 0.99 * _exact_best_gain(gain, cost, budget)


def test_a_budget_that_covers_everything_changes_nothing() -> None:
    gain, cost = _problem(200, 1)
    assert np.array_equal(allocate(gain, cost, 1e12), gain.argmax(axis=1))


def test_a_zero_budget_means_no_action() -> None:
    gain, cost = _problem(50, 2)
    assert not allocate(gain, cost, 0.0).any()

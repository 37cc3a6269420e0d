"""Budget allocation: never over budget, close to the exact optimum, and the same plan when
computed block by block the way a distributed engine does."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from aura_sentinel.budget import (
    BudgetPlan,
    allocate,
    find_plan,
    plan_budget,
    total_costs,
    upgrade_candidates,
)

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


@pytest.mark.parametrize("seed", range(3))  # seeds whose plans need fill rounds
def test_blocks_and_passes_of_six_halvings_give_the_same_plan(seed: int) -> None:
    """A distributed engine sums totals over blocks, evaluates six halvings per pass and merges
    each block's upgrade candidates: the plan must equal the one computed on the whole."""
    gain, cost = _problem(300, seed)
    gain[150:200], cost[150:200] = gain[100:150], cost[100:150]  # identical customers: ties
    keys = np.array([f"C{number:04d}" for number in np.random.default_rng(seed).permutation(300)])
    budget = 0.3 * cost[np.arange(300), gain.argmax(axis=1)].sum()
    blocks = [slice(0, 37), slice(37, 160), slice(160, 161), slice(161, 300)]

    def candidates_at(plan: BudgetPlan, left: float) -> pl.DataFrame:
        return pl.concat(
            upgrade_candidates(
                gain[b], cost[b], plan.actions(gain[b], cost[b], keys[b]), keys[b], left
            )
            for b in blocks
        )

    plan = find_plan(
        lambda prices: np.sum([total_costs(gain[b], cost[b], prices) for b in blocks], axis=0),
        candidates_at,
        budget,
        depth=6,
    )
    assert plan.upgrades, "the case must exercise the fill rounds"
    blockwise = np.concatenate([plan.actions(gain[b], cost[b], keys[b]) for b in blocks])
    assert np.array_equal(blockwise, allocate(gain, cost, budget, keys))


def test_the_price_does_not_depend_on_halvings_per_pass() -> None:
    gain, cost = _problem(200, 5)
    budget = 0.2 * cost[np.arange(200), gain.argmax(axis=1)].sum()
    prices = {
        depth: plan_budget(lambda p: total_costs(gain, cost, p), budget, depth).price
        for depth in (1, 2, 3, 6)
    }
    assert len(set(prices.values())) == 1, prices


def test_ties_between_identical_customers_go_to_the_smaller_key() -> None:
    gain = np.array([[0.0, 5.0], [0.0, 5.0]])
    cost = np.array([[0.0, 2.0], [0.0, 2.0]])
    assert allocate(gain, cost, 2.0, np.array(["B", "A"])).tolist() == [0, 1]
    assert allocate(gain, cost, 2.0).tolist() == [1, 0]

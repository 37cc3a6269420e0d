"""Spend a fixed budget where it buys the most expected gain.

Each customer gets one action; action a has expected gain G[n, a] and cost C[n, a]. The best
plan under a total budget is a multiple-choice knapsack. We solve its Lagrangian relaxation: for a
price lambda on cost, every customer independently takes argmax_a G - lambda C; bisection finds
the smallest lambda whose plan fits the budget. The money left over is then spent greedily on the
customers whose next step up buys the most gain per unit of cost. All of it is vectorised and
deterministic: ties go to the cheaper action, then to the customer with the smaller key (the
customer id, then the row).

The steps are written so that a distributed engine can run them over blocks of customers and
reach the very same plan: the bisection needs only total costs at given prices (sums over
blocks), and each fill round only each block's best upgrades (see `upgrade_candidates`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

FloatMatrix = npt.NDArray[np.floating]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Keys = npt.NDArray[Any] | pl.Series
"""One distinct, sortable key per customer (a row number, a customer id)."""
TotalsAt = Callable[[FloatArray], FloatArray]
"""Total cost of the whole base's plan at each of the given prices."""

# The bisection halves the price interval this many times, in passes of up to `depth` halvings
# (a distributed engine evaluates every price a pass may visit at once). 54 halvings take the
# interval below a double's precision; 54 is a multiple of both 1 and 6.
_BISECTION_STEPS = 54
_HIGHEST_PRICE_EXPONENT = 40  # prices up to 2**40: beyond that, no action is worth its cost
FILL_ROUNDS = 50


@dataclass
class BudgetPlan:
    """The plan in two numbers and a short list: every customer takes their best action at
    `price` (no price: the unconstrained best; infinite: no action), except the customers in
    `upgrades`, who take the action given there."""

    price: float | None
    upgrades: dict[object, int] = field(default_factory=dict)

    def actions(self, gain: FloatMatrix, cost: FloatMatrix, keys: Keys) -> IntArray:
        """The plan for one block of customers, whose keys are `keys`."""
        gain, cost = _as_float64(gain, cost)
        if self.price is None:
            return best_at_price(gain, cost, 0.0)
        if math.isinf(self.price):
            return np.zeros(gain.shape[0], dtype=np.int64)
        actions = best_at_price(gain, cost, self.price)
        if self.upgrades:
            upgraded = pl.Series(keys).replace_strict(
                list(self.upgrades), list(self.upgrades.values()), default=-1
            )
            rows = np.flatnonzero(upgraded.to_numpy() >= 0)
            actions[rows] = upgraded.to_numpy()[rows]
        return actions


def allocate(
    gain: FloatMatrix, cost: FloatMatrix, budget: float, keys: Keys | None = None
) -> IntArray:
    """The action per customer that maximises total gain with total cost <= budget.

    Action 0 must cost nothing, so a plan within any budget >= 0 exists. `keys` are distinct
    sortable values, one per customer (by default the row numbers); smaller wins a tie.
    """
    gain, cost = _as_float64(gain, cost)
    keys = np.arange(gain.shape[0], dtype=np.int64) if keys is None else keys
    plan = find_plan(
        lambda prices: total_costs(gain, cost, prices),
        lambda plan, left: upgrade_candidates(
            gain, cost, plan.actions(gain, cost, keys), keys, left
        ),
        budget,
    )
    return plan.actions(gain, cost, keys)


def find_plan(
    totals_at: TotalsAt,
    candidates_at: Callable[[BudgetPlan, float], pl.DataFrame],
    budget: float,
    depth: int = 1,
) -> BudgetPlan:
    """The whole plan, from totals over all customers and their blocks' upgrade candidates.

    `candidates_at(plan, left)` returns `upgrade_candidates` of every block (concatenated) for
    the customers' current actions under `plan`.
    """
    plan = plan_budget(totals_at, budget, depth)
    if plan.price is None or math.isinf(plan.price):
        return plan
    left = budget - float(totals_at(np.array([plan.price]))[0])
    for _ in range(FILL_ROUNDS):
        taken = take_upgrades(candidates_at(plan, left), left)
        if taken.height == 0:
            break
        keys, actions = taken.get_column("key").to_list(), taken.get_column("action").to_list()
        plan.upgrades.update(zip(keys, actions, strict=True))
        left -= float(taken.get_column("extra_cost").sum())
    return plan


def plan_budget(totals_at: TotalsAt, budget: float, depth: int = 1) -> BudgetPlan:
    """The Lagrangian part of the plan: the smallest price whose plan fits the budget.

    `depth` halvings are done per call of `totals_at`, which then gets every price they may
    visit; the midpoints are computed exactly as one-at-a-time bisection computes them, so the
    price found does not depend on `depth`.
    """
    highs = np.concatenate([[0.0], 2.0 ** np.arange(_HIGHEST_PRICE_EXPONENT + 1)])
    per_call = 2**depth - 1
    first = None
    for start in range(0, len(highs), per_call):  # the first price whose plan fits
        fits = totals_at(highs[start : start + per_call]) <= budget
        if fits.any():
            first = start + int(fits.argmax())
            break
    if first is None:
        return BudgetPlan(price=math.inf)
    if first == 0:
        return BudgetPlan(price=None)
    low, high = float(highs[first - 1]), float(highs[first])
    for _ in range(_BISECTION_STEPS // depth):
        prices = _midpoint_tree(low, high, depth)
        over = totals_at(np.asarray(prices)) > budget
        node = 0
        for _ in range(depth):
            if over[node]:
                low, node = prices[node], 2 * node + 2
            else:
                high, node = prices[node], 2 * node + 1
    return BudgetPlan(price=high)


def _midpoint_tree(low: float, high: float, depth: int) -> list[float]:
    """The midpoints bisection may visit in `depth` steps, breadth first: node i's halves are
    nodes 2i+1 (lower) and 2i+2 (upper)."""
    tree: list[float] = []
    level = [(low, high)]
    for _ in range(depth):
        next_level = []
        for lower, upper in level:
            middle = (lower + upper) / 2.0
            tree.append(middle)
            next_level += [(lower, middle), (middle, upper)]
        level = next_level
    return tree


def total_costs(gain: FloatMatrix, cost: FloatMatrix, prices: FloatArray) -> FloatArray:
    """Total cost of the customers' best actions at each price."""
    gain, cost = _as_float64(gain, cost)
    totals = np.zeros(len(prices))
    for index, price in enumerate(prices):
        actions = best_at_price(gain, cost, float(price))
        totals[index] = np.take_along_axis(cost, actions[:, None], axis=1).sum()
    return totals


def best_at_price(gain: FloatMatrix, cost: FloatMatrix, price: float) -> IntArray:
    """Each customer's best action when cost is charged at `price` per unit; ties -> cheaper."""
    net = gain - price * cost
    best = net.max(axis=1, keepdims=True)
    # Among (near-)ties, take the cheapest action: argmin of cost over the tied set.
    tied = net >= best - 1e-12 * np.maximum(1.0, np.abs(best))
    cheapest: IntArray = np.where(tied, cost, np.inf).argmin(axis=1).astype(np.int64)
    return cheapest


def upgrade_candidates(
    gain: FloatMatrix, cost: FloatMatrix, actions: IntArray, keys: Keys, left: float
) -> pl.DataFrame:
    """One fill round for one block: each customer's best upgrade per unit of cost that fits in
    `left`, best first, cut where the block alone would spend more than `left`.

    A customer the whole base's round takes is always among its block's candidates: the
    customers ahead of it in its own block cost no more than all those ahead of it overall.
    """
    gain, cost = _as_float64(gain, cost)
    rows = np.arange(gain.shape[0])
    extra_cost = cost - cost[rows, actions][:, None]
    extra_gain = gain - gain[rows, actions][:, None]
    fits = (extra_cost > 0) & (extra_cost <= left) & (extra_gain > 0)
    ratio = np.where(fits, extra_gain / np.where(fits, extra_cost, 1.0), -np.inf)
    upgrade = ratio.argmax(axis=1)
    chosen = np.flatnonzero(fits.any(axis=1))
    candidates = pl.DataFrame(
        {
            "key": pl.Series(keys).gather(chosen),
            "action": upgrade[chosen].astype(np.int64),
            "ratio": ratio[chosen, upgrade[chosen]],
            "extra_cost": extra_cost[chosen, upgrade[chosen]],
        }
    )
    return take_upgrades(candidates, left)


def take_upgrades(candidates: pl.DataFrame, left: float) -> pl.DataFrame:
    """The upgrades a round takes: best ratio first (ties: smaller key), while money lasts."""
    ordered = candidates.sort(["ratio", "key"], descending=[True, False])
    spent = ordered.get_column("extra_cost").cum_sum()
    return ordered.filter(spent <= left)


def _as_float64(gain: FloatMatrix, cost: FloatMatrix) -> tuple[FloatArray, FloatArray]:
    return np.asarray(gain, dtype=np.float64), np.asarray(cost, dtype=np.float64)

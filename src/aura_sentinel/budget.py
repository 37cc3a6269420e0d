"""Spend a fixed budget where it buys the most expected gain.

Each customer gets one action; action a has expected gain G[n, a] and cost C[n, a]. The best
plan under a total budget is a multiple-choice knapsack. We solve its Lagrangian relaxation: for a
price lambda on cost, every customer independently takes argmax_a G - lambda C; bisection finds
the smallest lambda whose plan fits the budget. The money left over is then spent greedily on the
customers whose next step up buys the most gain per unit of cost. All of it is vectorised and
deterministic (ties go to the cheaper action, then to the earlier customer).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.floating]
IntArray = npt.NDArray[np.int64]
_BISECTION_STEPS = 100
_FILL_ROUNDS = 50


def allocate(gain: FloatMatrix, cost: FloatMatrix, budget: float) -> IntArray:
    """The action per customer that maximises total gain with total cost <= budget.

    Action 0 must cost nothing, so a plan within any budget >= 0 exists.
    """
    gain = np.asarray(gain, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    unconstrained = _best_at_price(gain, cost, 0.0)
    if _total_cost(cost, unconstrained) <= budget:
        return unconstrained
    low, high = 0.0, 1.0
    while _total_cost(cost, _best_at_price(gain, cost, high)) > budget:
        high *= 2.0
        if high > 1e12:
            return np.zeros(gain.shape[0], dtype=np.int64)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2.0
        if _total_cost(cost, _best_at_price(gain, cost, middle)) > budget:
            low = middle
        else:
            high = middle
    return _spend_the_rest(gain, cost, _best_at_price(gain, cost, high), budget)


def _best_at_price(gain: FloatMatrix, cost: FloatMatrix, price: float) -> IntArray:
    """Each customer's best action when cost is charged at `price` per unit; ties -> cheaper."""
    net = gain - price * cost
    best = net.max(axis=1, keepdims=True)
    # Among (near-)ties, take the cheapest action: argmin of cost over the tied set.
    tied = net >= best - 1e-12 * np.maximum(1.0, np.abs(best))
    cheapest: IntArray = np.where(tied, cost, np.inf).argmin(axis=1).astype(np.int64)
    return cheapest


def _total_cost(cost: FloatMatrix, actions: IntArray) -> float:
    return float(np.take_along_axis(cost, actions[:, None], axis=1).sum())


def _spend_the_rest(
    gain: FloatMatrix, cost: FloatMatrix, plan: IntArray, budget: float
) -> IntArray:
    """Spend what the Lagrangian plan leaves over, best gain per unit of cost first.

    Each round offers every customer their best-ratio upgrade that still fits, and takes the
    best of them in order while the money lasts; rounds repeat until nothing more fits.
    """
    plan = plan.copy()
    rows = np.arange(gain.shape[0])
    for _ in range(_FILL_ROUNDS):
        left = budget - _total_cost(cost, plan)
        extra_cost = cost - cost[rows, plan][:, None]
        extra_gain = gain - gain[rows, plan][:, None]
        fits = (extra_cost > 0) & (extra_cost <= left) & (extra_gain > 0)
        if not fits.any():
            break
        ratio = np.where(fits, extra_gain / np.where(fits, extra_cost, 1.0), -np.inf)
        upgrade = ratio.argmax(axis=1)
        candidates = np.flatnonzero(fits.any(axis=1))
        best_ratio = ratio[candidates, upgrade[candidates]]
        order = candidates[np.lexsort((candidates, -best_ratio))]
        spent = np.cumsum(extra_cost[order, upgrade[order]])
        taken = order[spent <= left]
        plan[taken] = upgrade[taken]
    return plan

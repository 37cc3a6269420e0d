"""Exact optimum and exact evaluation of retention policies, vectorised across customers.

Every customer is a small Markov decision process over the simulator's discrete grid of
controllable states, so a policy's expected discounted value is the solution of one linear system
per customer (batched), and policy iteration finds the optimum exactly. No rollouts, no noise.
The optimum chooses among the simulator's allowed actions only (see `Simulator.tried`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from aura_sentinel.retention.simulator import FloatArray, IntArray, Simulator
from aura_sentinel.retention.state import StateMatrix

Policy = Callable[[StateMatrix], npt.NDArray[np.integer]]
# Customers per batched solve: 16,384 on the default grid of 20 states, fewer on a larger grid, so
# that memory stays bounded at this many floats (chunk x grid x grid), about 52 MB.
_SOLVE_FLOATS = 16_384 * 20 * 20


def _chunk(simulator: Simulator) -> int:
    return max(1, _SOLVE_FLOATS // simulator.grid_size**2)


def action_values(
    simulator: Simulator, survival: FloatArray, reward: FloatArray, values: FloatArray
) -> FloatArray:
    """Q(s, a) = r(s, a) + gamma * survival(s, a) * V(next(s, a)): N x grid x actions."""
    next_values = values[:, simulator.next_grid_state()]
    return reward + simulator.settings.discount * survival * next_values


def evaluate_table(simulator: Simulator, state: StateMatrix, actions: IntArray) -> FloatArray:
    """Exact value of following `actions` (N x grid) from every grid state: N x grid."""
    values = np.empty(actions.shape, dtype=np.float64)
    step = _chunk(simulator)
    for start in range(0, state.shape[0], step):
        chunk = slice(start, start + step)
        survival, reward = simulator.tables(state[chunk])
        values[chunk] = _solve(simulator, survival, reward, actions[chunk])
    return values


def optimal_values(simulator: Simulator, state: StateMatrix) -> tuple[IntArray, FloatArray]:
    """(optimal action, optimal value) for every customer and grid state, by policy iteration."""
    actions = np.empty((state.shape[0], simulator.grid_size), dtype=np.int64)
    values = np.empty(actions.shape, dtype=np.float64)
    step = _chunk(simulator)
    for start in range(0, state.shape[0], step):
        chunk = slice(start, start + step)
        actions[chunk], values[chunk] = _policy_iteration(simulator, state[chunk])
    return actions, values


def policy_table(simulator: Simulator, state: StateMatrix, policy: Policy) -> IntArray:
    """The action `policy` takes in every grid state of every customer: N x grid."""
    grid = simulator.grid_size
    every_grid_state = simulator.with_grid_state(
        np.repeat(state, grid, axis=0), np.tile(np.arange(grid), state.shape[0])
    )
    return np.asarray(policy(every_grid_state), dtype=np.int64).reshape(state.shape[0], grid)


def evaluate_policy(simulator: Simulator, state: StateMatrix, policy: Policy) -> FloatArray:
    """Exact expected discounted value of `policy` for each customer from their own state."""
    values = evaluate_table(simulator, state, policy_table(simulator, state, policy))
    return at_own_state(simulator, state, values)


def at_own_state(simulator: Simulator, state: StateMatrix, per_grid: FloatArray) -> FloatArray:
    """Pick each customer's entry for the grid state they are in now."""
    return per_grid[np.arange(state.shape[0]), simulator.grid_index(state)]


def finite_horizon_values(simulator: Simulator, state: StateMatrix, horizon: int) -> FloatArray:
    """Optimal value over `horizon` months (nothing after), by backward induction: N x grid."""
    survival, reward = simulator.tables(state)
    values = np.zeros((state.shape[0], simulator.grid_size))
    allowed = simulator.allowed
    for _ in range(horizon):
        values = action_values(simulator, survival, reward, values)[:, :, allowed].max(axis=2)
    return values


def _policy_iteration(simulator: Simulator, state: StateMatrix) -> tuple[IntArray, FloatArray]:
    survival, reward = simulator.tables(state)
    actions = simulator.best_allowed(reward)  # start from the myopic policy
    for _ in range(200):
        values = _solve(simulator, survival, reward, actions)
        q = action_values(simulator, survival, reward, values)
        current = np.take_along_axis(q, actions[:, :, None], axis=2)[:, :, 0]
        best = simulator.best_allowed(q)
        # Switch only for a real improvement, so ties cannot make the iteration cycle.
        improves = np.take_along_axis(q, best[:, :, None], axis=2)[
            :, :, 0
        ] > current + 1e-9 * np.maximum(1.0, np.abs(current))
        if not improves.any():
            return actions, values
        actions = np.where(improves, best, actions)
    raise RuntimeError("policy iteration did not converge")


def _solve(
    simulator: Simulator, survival: FloatArray, reward: FloatArray, actions: IntArray
) -> FloatArray:
    """Solve V = r_pi + gamma * P_pi V for each customer."""
    customers, grid = actions.shape
    rows = np.arange(grid)[None, :]
    chosen_survival = np.take_along_axis(survival, actions[:, :, None], axis=2)[:, :, 0]
    chosen_reward = np.take_along_axis(reward, actions[:, :, None], axis=2)[:, :, 0]
    next_state = simulator.next_grid_state()[rows, actions]  # N x grid
    system = np.broadcast_to(np.eye(grid), (customers, grid, grid)).copy()
    customer_index = np.arange(customers)[:, None]
    np.subtract.at(
        system,
        (customer_index, rows, next_state),
        simulator.settings.discount * chosen_survival,
    )
    return np.linalg.solve(system, chosen_reward[:, :, None])[:, :, 0]

"""The exact optimum and exact evaluation agree with brute force and with Monte Carlo."""

from __future__ import annotations

import itertools

import numpy as np
from test_simulator import _states

from aura_sentinel.retention import oracle
from aura_sentinel.retention.evaluation import baseline_policies
from aura_sentinel.retention.simulator import Simulator


def _brute_force_value(simulator: Simulator, state: np.ndarray, horizon: int) -> np.ndarray:
    """Best expected value over every sequence of `horizon` actions, customer by customer."""
    gamma = simulator.settings.discount
    best = np.full(state.shape[0], -np.inf)
    for sequence in itertools.product(range(simulator.catalog.size), repeat=horizon):
        value = np.zeros(state.shape[0])
        alive = np.ones(state.shape[0])
        current = state
        for month, action in enumerate(sequence):
            survival, reward = simulator.current(current)
            actions = np.full(state.shape[0], action)
            value += alive * gamma**month * reward[:, action]
            alive = alive * survival[:, action]
            next_index = simulator.next_grid_state()[simulator.grid_index(current), actions]
            current = simulator.with_grid_state(current, next_index)
        best = np.maximum(best, value)
    return best


def test_dynamic_programme_equals_brute_force_over_a_short_horizon() -> None:
    simulator = Simulator()
    state = _states(40, seed=1)
    dynamic = oracle.at_own_state(
        simulator, state, oracle.finite_horizon_values(simulator, state, horizon=4)
    )
    np.testing.assert_allclose(dynamic, _brute_force_value(simulator, state, 4), rtol=1e-9)


def test_long_finite_horizon_converges_to_the_infinite_horizon_optimum() -> None:
    simulator = Simulator()
    state = _states(100, seed=2)
    _, optimal = oracle.optimal_values(simulator, state)
    long_run = oracle.finite_horizon_values(simulator, state, horizon=3000)
    np.testing.assert_allclose(long_run, optimal, rtol=1e-6)


def test_optimum_is_at_least_every_baseline_everywhere() -> None:
    simulator = Simulator()
    state = _states(300, seed=3)
    _, optimal = oracle.optimal_values(simulator, state)
    for policy in baseline_policies(simulator).values():
        table = oracle.policy_table(simulator, state, policy)
        values = oracle.evaluate_table(simulator, state, table)
        assert np.all(optimal >= values - 1e-7 * np.abs(values))


def test_exact_evaluation_agrees_with_monte_carlo_rollouts() -> None:
    simulator = Simulator()
    state = np.repeat(_states(3, seed=4), 8_000, axis=0)
    policy = baseline_policies(simulator)["risk_rule"]
    exact = oracle.evaluate_policy(simulator, state[::8_000], policy)
    rng = np.random.default_rng(0)
    returns = np.zeros(state.shape[0])
    alive = np.ones(state.shape[0], dtype=bool)
    current = state
    gamma = simulator.settings.discount
    for month in range(1000):  # what is left after 1,000 months is far below the tolerance
        actions = policy(current)
        current, reward, churned = simulator.step(current, actions, rng)
        returns += np.where(alive, gamma**month * reward, 0.0)
        alive &= ~churned
        if not alive.any():
            break
    per_customer = returns.reshape(3, 8_000)
    mean = per_customer.mean(axis=1)
    standard_error = per_customer.std(axis=1, ddof=1) / np.sqrt(8_000)
    assert np.all(np.abs(mean - exact) < 4 * standard_error)

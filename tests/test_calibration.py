"""Learned effects into the simulator: simulating an action reproduces the log's churn under it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from aura_sentinel.effects.calibration import LARGEST_BACKFIRE, hazard_effects
from aura_sentinel.retention.simulator import Simulator, SimulatorSettings
from aura_sentinel.retention.state import (
    CHURN_PROBABILITY,
    DAYS_SINCE_CONTACT,
    RECENT_INTERVENTIONS,
    STATE_COLUMNS,
    with_learned_effects,
)

ACTIONS = 6


def _fresh_state(rows: int, seed: int) -> np.ndarray:
    """Customers with no recent contact and the last one long ago: the simulator's fresh state."""
    rng = np.random.default_rng(seed)
    state = np.column_stack(
        [
            rng.uniform(0.02, 0.5, rows),  # churn probability over the horizon
            rng.integers(0, 3, rows),  # contract
            rng.integers(0, 3, rows),  # internet
            rng.uniform(0, 72, rows),  # tenure
            rng.uniform(18, 120, rows),  # monthly charges
            np.zeros(rows),  # recent interventions
            np.full(rows, 90.0),  # days since contact: the top bucket
            rng.uniform(0, 1, rows),  # response rate
            rng.uniform(0, 1, rows),  # engagement
        ]
    ).astype(np.float32)
    assert state.shape[1] == len(STATE_COLUMNS)
    return state


def _learned_churn(no_action: np.ndarray, seed: int, horizon: float) -> np.ndarray:
    """Churn under each action: some help, some backfire a little. An action taken in one month
    moves the churn by up to about that month's hazard, so the changes are shares of it."""
    rng = np.random.default_rng(seed)
    monthly_hazard = 1.0 - (1.0 - no_action) ** (1.0 / horizon)
    change = rng.uniform(-0.45, 0.2, (no_action.shape[0], ACTIONS)) * monthly_hazard[:, None]
    churn_under = no_action[:, None] + change
    churn_under[:, 0] = no_action
    return churn_under


def _learned(
    simulator: Simulator, state: np.ndarray, effects: np.ndarray
) -> tuple[Simulator, np.ndarray]:
    """The simulator on learned effects, and the state carrying them. In float64 here, so that
    the round trip is checked to the last bits (the state a policy reads is float32:
    `with_learned_effects`, checked below)."""
    learned = replace(simulator, tried=(True,) * simulator.catalog.size)
    return learned, np.hstack([state.astype(np.float64), effects[:, 1:]])


def _simulated_churn(
    simulator: Simulator, state: np.ndarray, effects: np.ndarray, action: int, months: int
) -> np.ndarray:
    """Churn within `months` after `action` in the first month, then no action."""
    simulator, state = _learned(simulator, state, effects)
    survival = np.ones(state.shape[0])
    taken = action
    for _ in range(months):
        month_survival, _ = simulator.current(state)
        survival *= month_survival[:, taken]
        moved = simulator.next_grid_state()[simulator.grid_index(state), taken]
        state = simulator.with_grid_state(state, moved)
        taken = 0
    return 1.0 - survival


@pytest.mark.parametrize("horizon", [1, 3, 12])
def test_simulating_an_action_reproduces_the_learned_churn(horizon: int) -> None:
    state = _fresh_state(400, seed=horizon)
    simulator = Simulator(SimulatorSettings(churn_horizon_months=float(horizon)))
    no_action = state[:, CHURN_PROBABILITY].astype(np.float64)
    churn_under = _learned_churn(no_action, horizon, horizon)
    effects, clipping = hazard_effects(
        no_action, churn_under, float(horizon), simulator.settings.max_effect
    )
    assert clipping.clipped == 0
    for action in range(ACTIONS):
        simulated = _simulated_churn(simulator, state, effects, action, horizon)
        np.testing.assert_allclose(simulated, churn_under[:, action], rtol=0, atol=1e-9)


def test_no_action_and_actions_that_change_nothing_remove_no_hazard() -> None:
    no_action = np.array([0.1, 0.5, 0.0])
    churn_under = np.column_stack([no_action, no_action, no_action * 0.8])
    effects, _ = hazard_effects(no_action, churn_under, 12.0, 0.9)
    assert np.all(effects[:, :2] == 0.0)
    assert np.all(effects[:2, 2] > 0) and effects[2, 2] == 0.0


def test_an_action_that_raises_churn_gets_a_negative_share() -> None:
    effects, clipping = hazard_effects(np.array([0.2]), np.array([[0.2, 0.21]]), 6.0, 0.9)
    assert -1.0 < effects[0, 1] < 0.0
    assert clipping.clipped == 0


def test_a_horizon_under_a_month_reads_the_first_month_at_its_share() -> None:
    no_action = np.array([0.05])
    effects, _ = hazard_effects(no_action, np.array([[0.05, 0.04]]), 0.5, 0.9)
    hazard = 1.0 - (1.0 - 0.05) ** 2
    assert 1.0 - (1.0 - hazard * (1.0 - effects[0, 1])) ** 0.5 == pytest.approx(0.04, abs=1e-12)


def test_shares_the_simulator_cannot_take_are_clipped_and_counted() -> None:
    no_action = np.array([0.3, 0.3, 0.3, 0.0])
    churn_under = np.array(
        [
            [0.3, 0.0, 0.3],  # nobody leaves after action 1: more than max_effect removes
            [0.3, 0.3, 0.99],  # action 2 makes nearly everyone leave: more than doubles the hazard
            [0.3, 0.29, 0.31],  # within bounds
            [0.0, 0.0, 0.1],  # no hazard to raise: cannot be reproduced
        ]
    )
    effects, clipping = hazard_effects(no_action, churn_under, 12.0, 0.9)
    assert effects[0, 1] == 0.9 and effects[1, 2] == LARGEST_BACKFIRE
    assert effects[3, 2] == LARGEST_BACKFIRE and effects[3, 1] == 0.0
    assert clipping.above_max == (0, 1, 0) and clipping.below_min == (0, 0, 2)
    assert clipping.rows == 4 and clipping.clipped == 3
    assert json.loads(json.dumps(clipping.to_json()))["above_max"] == [0, 1, 0]


def test_a_share_at_its_bound_is_not_counted_as_clipped() -> None:
    no_action = np.array([0.3, 0.2])
    churn_under = np.column_stack([no_action, no_action * (1.0 - 0.9), no_action * 2.0])
    effects, clipping = hazard_effects(no_action, churn_under, 1.0, 0.9)
    np.testing.assert_allclose(effects[:, 1:], [[0.9, -1.0], [0.9, -1.0]])
    assert clipping.clipped == 0


def test_a_clipped_share_is_the_nearest_the_simulator_gets_to_the_log() -> None:
    state = _fresh_state(50, seed=7)
    simulator = Simulator(SimulatorSettings(churn_horizon_months=3.0))
    no_action = state[:, CHURN_PROBABILITY].astype(np.float64)
    churn_under = np.column_stack([no_action] * ACTIONS)
    churn_under[:, 1] = 0.0  # nobody would leave: beyond any share
    effects, clipping = hazard_effects(no_action, churn_under, 3.0, 0.9)
    assert clipping.above_max[1] == 50
    simulated = _simulated_churn(simulator, state, effects, 1, 3)
    assert np.all(simulated > 0.0) and np.all(simulated < no_action)


def test_learned_effects_still_feel_fatigue_and_recency() -> None:
    state = _fresh_state(100, seed=8)
    simulator = Simulator(SimulatorSettings(churn_horizon_months=12.0))
    no_action = state[:, CHURN_PROBABILITY].astype(np.float64)
    effects, _ = hazard_effects(no_action, _learned_churn(no_action, 8, 12.0), 12.0, 0.9)
    tired = state.copy()
    tired[:, RECENT_INTERVENTIONS] = 1
    tired[:, DAYS_SINCE_CONTACT] = 0
    learned, state = _learned(simulator, state, effects)
    tired = learned.with_grid_state(state, learned.grid_index(tired))
    fresh_survival, _ = learned.current(state)
    tired_survival, _ = learned.current(tired)
    helps = effects > 1e-6
    gain_fresh = fresh_survival - fresh_survival[:, :1]
    gain_tired = tired_survival - tired_survival[:, :1]
    assert np.all(gain_tired[helps] < gain_fresh[helps])


def test_the_policy_state_carries_the_learned_effects_in_float32() -> None:
    state = _fresh_state(300, seed=9)
    no_action = state[:, CHURN_PROBABILITY].astype(np.float64)
    churn_under = _learned_churn(no_action, 9, 3.0)
    effects, _ = hazard_effects(no_action, churn_under, 3.0, 0.9)
    carried = with_learned_effects(state, effects)
    assert carried.dtype == np.float32 and carried.shape == (300, len(STATE_COLUMNS) + ACTIONS - 1)
    np.testing.assert_array_equal(carried[:, : len(STATE_COLUMNS)], state)
    simulator = replace(
        Simulator(SimulatorSettings(churn_horizon_months=3.0)), tried=(True,) * ACTIONS
    )
    survival = np.ones(300)
    taken, moved = 2, carried
    for _ in range(3):
        month, _ = simulator.current(moved)
        survival *= month[:, taken]
        moved = simulator.with_grid_state(
            moved, simulator.next_grid_state()[simulator.grid_index(moved), taken]
        )
        taken = 0
    np.testing.assert_allclose(1.0 - survival, churn_under[:, 2], rtol=0, atol=1e-6)

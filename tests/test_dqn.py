"""The DQN learns a policy better than doing nothing, reproducibly, and loads without pickle."""

from __future__ import annotations

import numpy as np
import torch
from test_simulator import _states

from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.retention.dqn import DQNConfig, greedy_actions, train_dqn
from aura_sentinel.retention.evaluation import evaluate
from aura_sentinel.retention.policy import load_network, train_policy
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import STATE_COLUMNS, with_learned_effects

SMALL = DQNConfig(iterations=1000, parallel_customers=128, batch_size=256, hidden=64)
EVERY = np.ones(6, dtype=np.bool_)


def test_a_small_fast_dqn_beats_doing_nothing_on_unseen_customers() -> None:
    simulator = Simulator()
    network = train_dqn(simulator, _states(2000, seed=5), SMALL)
    result = evaluate(simulator, _states(500, seed=6), lambda s: greedy_actions(network, s, EVERY))
    assert result.values["dqn"] > result.values["no_action"]
    assert result.gain_ratio > 0.3


def test_training_twice_gives_identical_weights() -> None:
    first = train_dqn(Simulator(), _states(500, seed=7), SMALL).state_dict()
    second = train_dqn(Simulator(), _states(500, seed=7), SMALL).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_greedy_actions_cover_every_customer_in_one_pass() -> None:
    network = train_dqn(Simulator(), _states(300), DQNConfig(iterations=60, hidden=16))
    actions = greedy_actions(network, _states(1234, seed=9), EVERY)
    assert actions.shape == (1234,)
    assert set(np.unique(actions)) <= set(range(6))


def test_saved_weights_load_with_weights_only_and_act_the_same() -> None:
    settings = PolicySettings(dqn=SMALL)
    trained = train_policy(_states(600, seed=8), settings, seed=1)
    restored = load_network(trained.weights(), settings, len(STATE_COLUMNS), "policy.pt")
    state = _states(200, seed=10)
    assert np.array_equal(
        greedy_actions(restored, state, EVERY), greedy_actions(trained.network, state, EVERY)
    )
    assert trained.weights() == trained.weights()


def test_on_learned_effects_the_dqn_reads_them_and_never_picks_an_action_not_tried() -> None:
    """Email helps these customers a lot and the 20% discount more, but the log never tried
    the discount: the policy must contact them by email, never with the discount."""
    tried = (True, True, True, True, False, True)
    simulator = Simulator(tried=tried)
    states = _states(1500, seed=11)
    effects = np.zeros((len(states), 6))
    effects[:, 1], effects[:, 4] = 0.6, 0.9
    learned = with_learned_effects(states, effects)
    network = train_dqn(simulator, learned, SMALL)
    assert network.state_mean.shape == (len(STATE_COLUMNS) + 5,)
    held_out = with_learned_effects(_states(400, seed=12), effects[:400])
    result = evaluate(simulator, held_out, lambda s: greedy_actions(network, s, simulator.allowed))
    actions = greedy_actions(network, held_out, simulator.allowed)
    assert not np.any(actions == 4)
    assert result.values["dqn"] > result.values["no_action"]
    assert result.values["dqn"] > result.values["treat_the_riskiest"] - 1e-9
    restored = load_network(
        train_policy(learned, PolicySettings(dqn=SMALL), 1, tried=tried).weights(),
        PolicySettings(dqn=SMALL),
        len(STATE_COLUMNS) + 5,
        "policy.pt",
    )
    assert not np.any(greedy_actions(restored, held_out, simulator.allowed) == 4)

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

SMALL = DQNConfig(iterations=1000, parallel_customers=128, batch_size=256, hidden=64)


def test_a_small_fast_dqn_beats_doing_nothing_on_unseen_customers() -> None:
    simulator = Simulator()
    network = train_dqn(simulator, _states(2000, seed=5), SMALL)
    result = evaluate(simulator, _states(500, seed=6), lambda s: greedy_actions(network, s))
    assert result.values["dqn"] > result.values["no_action"]
    assert result.gain_ratio > 0.3


def test_training_twice_gives_identical_weights() -> None:
    first = train_dqn(Simulator(), _states(500, seed=7), SMALL).state_dict()
    second = train_dqn(Simulator(), _states(500, seed=7), SMALL).state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_greedy_actions_cover_every_customer_in_one_pass() -> None:
    network = train_dqn(Simulator(), _states(300), DQNConfig(iterations=60, hidden=16))
    actions = greedy_actions(network, _states(1234, seed=9))
    assert actions.shape == (1234,)
    assert set(np.unique(actions)) <= set(range(6))


def test_saved_weights_load_with_weights_only_and_act_the_same() -> None:
    settings = PolicySettings(dqn=SMALL)
    trained = train_policy(_states(600, seed=8), settings, seed=1)
    restored = load_network(trained.weights(), settings, "policy.pt")
    state = _states(200, seed=10)
    assert np.array_equal(greedy_actions(restored, state), greedy_actions(trained.network, state))
    assert trained.weights() == trained.weights()

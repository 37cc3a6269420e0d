"""Training, saving and loading the retention policy (the DQN with its settings)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import torch

from aura_sentinel.errors import BundleError
from aura_sentinel.retention.config import PolicySettings, simulator_for
from aura_sentinel.retention.dqn import QNetwork, greedy_actions, train_dqn
from aura_sentinel.retention.evaluation import PolicyEvaluation, evaluate
from aura_sentinel.retention.state import StateMatrix, StateSources, build_state

Progress = Callable[[float, str], None]
HELD_OUT_SHARE = 0.2
"""Share of customers kept out of DQN training, to examine the policy on unseen customers."""


@dataclass
class TrainedPolicy:
    network: QNetwork
    evaluation: PolicyEvaluation
    training_customers: int

    def weights(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(self.network.state_dict(), buffer)
        return buffer.getvalue()


def customer_states(
    customers: pl.DataFrame,
    churn_probability: npt.ArrayLike,
    settings: PolicySettings,
    sources: StateSources,
) -> StateMatrix:
    return build_state(customers, churn_probability, settings.simulator.response_prior, sources)


def train_policy(
    state: StateMatrix,
    settings: PolicySettings,
    seed: int,
    progress: Progress | None = None,
    tried: tuple[bool, ...] | None = None,
) -> TrainedPolicy:
    """Train the DQN on most customers and examine it exactly on the held-out rest. With
    `tried`, the state carries learned effects (see `Simulator.tried`)."""
    simulator = simulator_for(settings, tried)
    order = np.random.default_rng(seed).permutation(state.shape[0])
    held_out_count = max(1, round(HELD_OUT_SHARE * state.shape[0]))
    held_out, training = order[:held_out_count], order[held_out_count:]
    if training.size == 0:
        training = held_out
    network = train_dqn(simulator, state[training], settings.dqn, progress)
    allowed = simulator.allowed
    evaluation = evaluate(
        simulator, state[held_out], lambda states: greedy_actions(network, states, allowed)
    )
    return TrainedPolicy(network, evaluation, int(training.size))


def load_network(weights: bytes, settings: PolicySettings, features: int, source: str) -> QNetwork:
    """Rebuild the Q-network (of a state `features` wide) from its state_dict bytes, without
    unpickling anything."""
    network = QNetwork(settings.catalog.size, settings.dqn.hidden, features)
    try:
        state_dict = torch.load(io.BytesIO(weights), weights_only=True)
        network.load_state_dict(state_dict, strict=True)
    except Exception as exc:  # torch raises several types for damaged or mismatched weights
        raise BundleError(
            source, "policy weights do not fit the policy settings", "retrain the policy"
        ) from exc
    network.eval()
    return network

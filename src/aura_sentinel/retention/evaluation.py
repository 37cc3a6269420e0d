"""Exact evaluation of the DQN against the optimum and the baselines a CRM team would use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aura_sentinel.retention.oracle import (
    Policy,
    at_own_state,
    evaluate_policy,
    optimal_values,
)
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import CHURN_PROBABILITY, StateMatrix

IntArray = npt.NDArray[np.int64]

# The rule a CRM team would write: call the likeliest leavers, discount the middle, email the rest.
RISK_RULE_HIGH = 0.7
RISK_RULE_MEDIUM = 0.4
POLICY_LABELS = {
    "optimal": "optimum (exact dynamic programming)",
    "dqn": "DQN (the trained policy)",
    "no_action": "no action",
    "always_email": "always email",
    "risk_rule": "risk rule (>0.7 call, >0.4 10% off, else email)",
    "myopic": "myopic (best one-month gain)",
}


def baseline_policies(simulator: Simulator) -> dict[str, Policy]:
    """The baselines the DQN must beat, each a function from states to actions."""

    def no_action(state: StateMatrix) -> IntArray:
        return np.zeros(state.shape[0], dtype=np.int64)

    def always_email(state: StateMatrix) -> IntArray:
        return np.ones(state.shape[0], dtype=np.int64)

    def risk_rule(state: StateMatrix) -> IntArray:
        probability = state[:, CHURN_PROBABILITY]
        return np.where(
            probability > RISK_RULE_HIGH, 5, np.where(probability > RISK_RULE_MEDIUM, 3, 1)
        ).astype(np.int64)

    def myopic(state: StateMatrix) -> IntArray:
        _, reward = simulator.current(state)
        best: IntArray = reward.argmax(axis=1).astype(np.int64)
        return best

    return {
        "no_action": no_action,
        "always_email": always_email,
        "risk_rule": risk_rule,
        "myopic": myopic,
    }


@dataclass(frozen=True)
class PolicyEvaluation:
    """Mean exact expected discounted value per customer of each policy, on held-out customers."""

    customers: int
    values: dict[str, float]
    gain_ratio: float
    optimal_match: float
    differs_from_myopic: float
    differs_from_no_action: float

    def to_json(self) -> dict[str, object]:
        """The record for bundle.json, to 6 decimals: the exact evaluation solves linear systems,
        whose last bits can differ from one machine to another, and the same data and seed must
        give the same bundle bytes everywhere."""
        return {
            "customers": self.customers,
            "value_per_customer": {name: _rounded(value) for name, value in self.values.items()},
            "gain_ratio": _rounded(self.gain_ratio),
            "optimal_action_match": _rounded(self.optimal_match),
            "optimal_differs_from_myopic": _rounded(self.differs_from_myopic),
            "optimal_differs_from_no_action": _rounded(self.differs_from_no_action),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PolicyEvaluation:
        return cls(
            customers=int(data["customers"]),
            values={str(key): float(value) for key, value in data["value_per_customer"].items()},
            gain_ratio=float(data["gain_ratio"]),
            optimal_match=float(data["optimal_action_match"]),
            differs_from_myopic=float(data["optimal_differs_from_myopic"]),
            differs_from_no_action=float(data["optimal_differs_from_no_action"]),
        )


def evaluate(simulator: Simulator, state: StateMatrix, dqn: Policy) -> PolicyEvaluation:
    """Score the DQN, the optimum and every baseline by their exact expected values."""
    optimal_table, optimal_table_values = optimal_values(simulator, state)
    own = np.arange(state.shape[0]), simulator.grid_index(state)
    optimal_action = optimal_table[own]
    values = {"optimal": float(at_own_state(simulator, state, optimal_table_values).mean())}
    values["dqn"] = float(evaluate_policy(simulator, state, dqn).mean())
    baselines = baseline_policies(simulator)
    for name, policy in baselines.items():
        values[name] = float(evaluate_policy(simulator, state, policy).mean())
    headroom = values["optimal"] - values["no_action"]
    gain_ratio = (values["dqn"] - values["no_action"]) / headroom if headroom > 0 else 1.0
    return PolicyEvaluation(
        customers=state.shape[0],
        values=values,
        gain_ratio=gain_ratio,
        optimal_match=float(np.mean(np.asarray(dqn(state)) == optimal_action)),
        differs_from_myopic=float(np.mean(baselines["myopic"](state) != optimal_action)),
        differs_from_no_action=float(np.mean(optimal_action != 0)),
    )


def _rounded(value: float) -> float:
    return round(value, 6)

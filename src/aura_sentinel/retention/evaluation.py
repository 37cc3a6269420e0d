"""Exact evaluation of the DQN against the optimum and the baselines a CRM team would use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aura_sentinel.retention.catalog import ActionCatalog
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
    "always_email": "always email (the cheapest contact)",
    "risk_rule": "risk rule (>0.7 costliest, >0.4 cheapest discount, else cheapest contact)",
    "myopic": "myopic (best one-month gain)",
    "best_single_action": "best single action (the one action for everyone worth most)",
    "treat_the_riskiest": "treat the riskiest (best single action, as many treated as by the DQN)",
}


@dataclass(frozen=True)
class RiskRuleActions:
    """The actions of the risk rule, chosen from the catalog's records, not by position.

    - high risk: the costliest action (call + 30% off, on the default catalog);
    - medium risk: the cheapest action with a discount (10% off), or the cheapest contact when
      the catalog has no discount action;
    - low risk: the cheapest contact, any action but 0 (email).

    Ties go to the lower action id. With two actions (no action and one contact) every choice is
    that contact; with three, e.g. no action, email and a discount, high and medium risk get the
    discount and low risk the email. Only the `allowed` actions count (all by default); with no
    allowed contact, every choice is no action.
    """

    high: int
    medium: int
    low: int

    @classmethod
    def of(
        cls, catalog: ActionCatalog, allowed: npt.NDArray[np.bool_] | None = None
    ) -> RiskRuleActions:
        contacts = [a for a in range(1, catalog.size) if allowed is None or allowed[a]]
        if not contacts:
            return cls(high=0, medium=0, low=0)

        def cost(action: int) -> float:
            return catalog.actions[action].cost_share

        cheapest_contact = min(contacts, key=cost)
        discounts = [action for action in contacts if catalog.actions[action].discount]
        return cls(
            high=max(contacts, key=cost),
            medium=min(discounts, key=cost, default=cheapest_contact),
            low=cheapest_contact,
        )


def baseline_policies(simulator: Simulator) -> dict[str, Policy]:
    """The rule-based baselines the DQN must beat, each a function from states to actions, all
    choosing among the allowed actions only (see `evaluate` for the two that need values)."""
    rule = RiskRuleActions.of(simulator.catalog, simulator.allowed)

    def no_action(state: StateMatrix) -> IntArray:
        return np.zeros(state.shape[0], dtype=np.int64)

    def always_email(state: StateMatrix) -> IntArray:
        return np.full(state.shape[0], rule.low, dtype=np.int64)

    def risk_rule(state: StateMatrix) -> IntArray:
        probability = state[:, CHURN_PROBABILITY]
        return np.where(
            probability > RISK_RULE_HIGH,
            rule.high,
            np.where(probability > RISK_RULE_MEDIUM, rule.medium, rule.low),
        ).astype(np.int64)

    def myopic(state: StateMatrix) -> IntArray:
        _, reward = simulator.current(state)
        return simulator.best_allowed(reward)

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


def always(action: int) -> Policy:
    """The same action for every customer in every state."""
    return lambda state: np.full(state.shape[0], action, dtype=np.int64)


def riskiest(share: float, probability: npt.NDArray[np.float32], action: int) -> Policy:
    """Churn-score-only targeting: `action` for customers whose churn probability is among the
    top `share` of `probability` (the customers examined), nothing for the rest."""
    if share <= 0:
        return always(0)
    threshold = np.quantile(probability, 1.0 - share, method="inverted_cdf")
    return lambda state: np.where(state[:, CHURN_PROBABILITY] >= threshold, action, 0).astype(
        np.int64
    )


def evaluate(simulator: Simulator, state: StateMatrix, dqn: Policy) -> PolicyEvaluation:
    """Score the DQN, the optimum and every baseline by their exact expected values.

    Two baselines need values: the best single action (each allowed contact for everyone, the
    best kept) and "treat the riskiest" (that action for the riskiest customers, as many as the
    DQN treats in their own state)."""
    optimal_table, optimal_table_values = optimal_values(simulator, state)
    own = np.arange(state.shape[0]), simulator.grid_index(state)
    optimal_action = optimal_table[own]
    values = {"optimal": float(at_own_state(simulator, state, optimal_table_values).mean())}
    dqn_actions = np.asarray(dqn(state))
    values["dqn"] = float(evaluate_policy(simulator, state, dqn).mean())
    baselines = baseline_policies(simulator)
    for name, policy in baselines.items():
        values[name] = float(evaluate_policy(simulator, state, policy).mean())
    singles = {
        action: float(evaluate_policy(simulator, state, always(action)).mean())
        for action in (int(index) + 1 for index in np.flatnonzero(simulator.allowed[1:]))
    }
    best = max(singles, key=lambda action: singles[action], default=0)
    values["best_single_action"] = singles.get(best, values["no_action"])
    treated = float(np.mean(dqn_actions != 0))
    values["treat_the_riskiest"] = float(
        evaluate_policy(
            simulator, state, riskiest(treated, state[:, CHURN_PROBABILITY], best)
        ).mean()
    )
    headroom = values["optimal"] - values["no_action"]
    gain_ratio = (values["dqn"] - values["no_action"]) / headroom if headroom > 0 else 1.0
    return PolicyEvaluation(
        customers=state.shape[0],
        values=values,
        gain_ratio=gain_ratio,
        optimal_match=float(np.mean(dqn_actions == optimal_action)),
        differs_from_myopic=float(np.mean(baselines["myopic"](state) != optimal_action)),
        differs_from_no_action=float(np.mean(optimal_action != 0)),
    )


def _rounded(value: float) -> float:
    return round(value, 6)

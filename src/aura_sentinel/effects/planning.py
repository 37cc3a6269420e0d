"""One-step plans on a campaign log's customers, and the rules they are compared with off-line.

A decision is valued over the log's horizon of H months: each action costs its share of the
monthly charge, and a customer kept to the end of the horizon is worth the margin on H months of
charge (discounted) plus, after that, their expected lifetime profit without action (the
simulator's closed form). So the value of action a for a customer is

    (1 - p_a) x kept_value - cost_a x charge,

with p_a the churn probability within the horizon under a. The recommended plan takes, for each
customer, the tried action of highest value; untried actions are never chosen.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.retention.evaluation import RISK_RULE_HIGH, RISK_RULE_MEDIUM, RiskRuleActions
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import MONTHLY_CHARGES, StateMatrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def kept_value(simulator: Simulator, state: StateMatrix, horizon_months: float) -> FloatArray:
    """What a customer still there at the end of the horizon is worth, in the table's money."""
    gamma = simulator.settings.discount
    months_of_margin = (1.0 - gamma**horizon_months) / (1.0 - gamma)
    charge = state[:, MONTHLY_CHARGES].astype(np.float64)
    after = simulator.lifetime_value(state) * gamma**horizon_months
    worth: FloatArray = charge * (simulator.settings.margin * months_of_margin + after)
    return worth


def action_costs(catalog: ActionCatalog, state: StateMatrix) -> FloatArray:
    """Each action's cost for each customer: N x actions."""
    charge = state[:, MONTHLY_CHARGES].astype(np.float64)
    costs: FloatArray = charge[:, None] * np.asarray(catalog.cost_shares)[None, :]
    return costs


def action_values(churn_under: FloatArray, worth: FloatArray, costs: FloatArray) -> FloatArray:
    """The expected value of each action for each customer over the horizon: N x actions."""
    values: FloatArray = (1.0 - churn_under) * worth[:, None] - costs
    return values


def best_actions(values: FloatArray, tried: tuple[bool, ...]) -> IntArray:
    """The tried action of highest value per customer (ties: the lower id, so no action first)."""
    allowed = np.where(np.asarray(tried)[None, :], values, -np.inf)
    best: IntArray = allowed.argmax(axis=1).astype(np.int64)
    return best


def risk_rule(catalog: ActionCatalog, churn_probability: FloatArray) -> IntArray:
    """The seed's rule: the costliest action above 0.7, the cheapest discount above 0.4, else
    the cheapest contact (see `RiskRuleActions`)."""
    rule = RiskRuleActions.of(catalog)
    actions: IntArray = np.where(
        churn_probability > RISK_RULE_HIGH,
        rule.high,
        np.where(churn_probability > RISK_RULE_MEDIUM, rule.medium, rule.low),
    ).astype(np.int64)
    return actions


def treat_the_riskiest(churn_probability: FloatArray, count: int, action: int) -> IntArray:
    """Churn-score-only targeting: the `count` riskiest customers get `action`, the rest nothing.
    Ties in the score go to the earlier row, so the rule is deterministic."""
    order = np.argsort(-churn_probability, kind="stable")
    actions = np.zeros(churn_probability.size, dtype=np.int64)
    actions[order[:count]] = action
    return actions

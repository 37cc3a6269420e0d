"""Off-policy evaluation: what a policy would have achieved on the logged customers.

A policy is an integer array, the action it takes for each logged row. Each row has two
outcomes: churn (1 churned within the log's horizon, 0 stayed; lower is better) and value,
(1 - churn) x kept_value - the cost of the row's action. Three estimators of a policy's mean
outcome, each with a normal 95% interval from its per-row terms:

- IPS: mean of 1[pi = A] / e x r, unbiased when the propensities e are right.
- SNIPS: sum(w r) / sum(w), w = 1[pi = A] / e; a little biased, far steadier than IPS when the
  weights vary. Its interval is the delta method's (influence term w (r - V) / mean(w)).
- DR: mean of mu_pi(x) + 1[pi = A] / e x (r - mu_A(x)), unbiased when either the propensities
  or the outcome model mu is right, and the narrowest when mu is good. mu is the cross-fitted
  `churn_under` (out-of-fold churn probability of each row under each action), so no row's term
  uses a model that saw it.

Two policies are compared on the same rows by the per-row differences of their DR terms (a
paired interval, much narrower than two separate ones when the policies mostly agree); what was
actually done enters with its observed outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

Z_95 = 1.959964
ESTIMATORS = ("ips", "snips", "dr")
METRICS = ("churn", "value")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% interval."""

    estimate: float
    low: float
    high: float

    def to_json(self) -> dict[str, float | None]:
        """Plain floats; None where the estimate is undefined (SNIPS with no matching row)."""
        return {
            key: (number if math.isfinite(number) else None)
            for key, number in (("estimate", self.estimate), ("low", self.low), ("high", self.high))
        }


@dataclass(frozen=True)
class PolicyValue:
    """A policy's churn rate and value per row, by each estimator ("ips", "snips", "dr")."""

    name: str
    treated_share: float
    """Share of rows given an action other than 0 (no action)."""
    churn: dict[str, Estimate]
    value: dict[str, Estimate]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "treated_share": self.treated_share,
            "churn": {key: self.churn[key].to_json() for key in ESTIMATORS},
            "value": {key: self.value[key].to_json() for key in ESTIMATORS},
        }


@dataclass(frozen=True)
class OffPolicyTable:
    """Every evaluated policy, and named paired differences (e.g. "recommended-logged:churn")."""

    policies: list[PolicyValue]
    differences: dict[str, Estimate]

    def to_json(self) -> dict[str, object]:
        return {
            "policies": [policy.to_json() for policy in self.policies],
            "differences": {name: value.to_json() for name, value in self.differences.items()},
        }


def mean_with_interval(terms: FloatArray) -> Estimate:
    """The mean of per-row terms with a normal 95% interval from their sample variance."""
    mean = float(terms.mean())
    half = Z_95 * float(terms.std(ddof=1)) / math.sqrt(terms.size) if terms.size > 1 else 0.0
    return Estimate(estimate=mean, low=mean - half, high=mean + half)


def evaluate_policy(
    name: str,
    policy: IntArray,
    actions: IntArray,
    churned: FloatArray,
    logged_propensity: FloatArray,
    churn_under: FloatArray,
    kept_value: FloatArray,
    action_cost: FloatArray,
) -> PolicyValue:
    """IPS, SNIPS and DR estimates of `policy`'s churn rate and value per row on the log."""
    _check_policy(policy, churn_under)
    weights = (policy == actions) / logged_propensity
    arguments = (actions, churned, logged_propensity, churn_under, kept_value, action_cost)
    estimates: dict[str, dict[str, Estimate]] = {}
    for metric in METRICS:
        observed = _observed(metric, actions, churned, kept_value, action_cost)
        dr = _dr_terms(metric, policy, *arguments)
        estimates[metric] = {
            "ips": mean_with_interval(weights * observed),
            "snips": _self_normalised(weights, observed),
            "dr": mean_with_interval(dr),
        }
    return PolicyValue(
        name=name,
        treated_share=float(np.mean(policy != 0)),
        churn=estimates["churn"],
        value=estimates["value"],
    )


def logging_policy_value(
    actions: IntArray, churned: FloatArray, kept_value: FloatArray, action_cost: FloatArray
) -> PolicyValue:
    """What was actually done, "logged": the observed means (all three estimators coincide)."""
    estimates = {
        metric: mean_with_interval(_observed(metric, actions, churned, kept_value, action_cost))
        for metric in METRICS
    }
    return PolicyValue(
        name="logged",
        treated_share=float(np.mean(actions != 0)),
        churn=dict.fromkeys(ESTIMATORS, estimates["churn"]),
        value=dict.fromkeys(ESTIMATORS, estimates["value"]),
    )


def paired_difference(
    policy_a: IntArray,
    policy_b: IntArray | None,
    metric: str,
    actions: IntArray,
    churned: FloatArray,
    logged_propensity: FloatArray,
    churn_under: FloatArray,
    kept_value: FloatArray,
    action_cost: FloatArray,
) -> Estimate:
    """DR estimate of `metric` ("churn" or "value") under `policy_a` minus under `policy_b`,
    with a paired interval. `policy_b` None: what was actually done (its observed outcomes)."""
    arguments = (actions, churned, logged_propensity, churn_under, kept_value, action_cost)
    first = _dr_terms(metric, policy_a, *arguments)
    if policy_b is None:
        second = _observed(metric, actions, churned, kept_value, action_cost)
    else:
        second = _dr_terms(metric, policy_b, *arguments)
    return mean_with_interval(first - second)


def _check_policy(policy: IntArray, churn_under: FloatArray) -> None:
    rows, action_count = churn_under.shape
    if policy.shape != (rows,):
        raise ValueError(f"a policy has shape {policy.shape}, expected ({rows},)")
    if policy.size and not (policy.min() >= 0 and policy.max() < action_count):
        raise ValueError(f"a policy takes actions outside 0..{action_count - 1}")


def _at(table: FloatArray, columns: IntArray) -> FloatArray:
    """table[i, columns[i]] for every row i."""
    picked: FloatArray = np.take_along_axis(table, columns[:, None], axis=1)[:, 0]
    return picked


def _observed(
    metric: str,
    actions: IntArray,
    churned: FloatArray,
    kept_value: FloatArray,
    action_cost: FloatArray,
) -> FloatArray:
    """Each row's observed outcome under its logged action."""
    if metric == "churn":
        return churned.astype(np.float64)
    if metric == "value":
        observed: FloatArray = (1.0 - churned) * kept_value - _at(action_cost, actions)
        return observed
    raise ValueError(f"metric is {metric!r}, expected one of {METRICS}")


def _modelled(
    metric: str,
    policy: IntArray,
    churn_under: FloatArray,
    kept_value: FloatArray,
    action_cost: FloatArray,
) -> FloatArray:
    """mu_pi(x): each row's modelled outcome under the policy's action."""
    churn = _at(churn_under, policy)
    if metric == "churn":
        return churn
    modelled: FloatArray = (1.0 - churn) * kept_value - _at(action_cost, policy)
    return modelled


def _dr_terms(
    metric: str,
    policy: IntArray,
    actions: IntArray,
    churned: FloatArray,
    logged_propensity: FloatArray,
    churn_under: FloatArray,
    kept_value: FloatArray,
    action_cost: FloatArray,
) -> FloatArray:
    """Per-row doubly robust terms mu_pi(x) + 1[pi = A] / e (r - mu_A(x))."""
    _check_policy(policy, churn_under)
    observed = _observed(metric, actions, churned, kept_value, action_cost)
    residual = observed - _modelled(metric, actions, churn_under, kept_value, action_cost)
    weights = (policy == actions) / logged_propensity
    terms: FloatArray = _modelled(metric, policy, churn_under, kept_value, action_cost)
    terms += weights * residual
    return terms


def _self_normalised(weights: FloatArray, observed: FloatArray) -> Estimate:
    """SNIPS with its delta-method interval; no matching row leaves it undefined (NaN)."""
    total = float(weights.sum())
    if total == 0.0:
        return Estimate(estimate=float("nan"), low=float("nan"), high=float("nan"))
    value = float((weights * observed).sum()) / total
    influence = weights * (observed - value) / weights.mean()
    interval = mean_with_interval(influence)
    return Estimate(estimate=value, low=value + interval.low, high=value + interval.high)

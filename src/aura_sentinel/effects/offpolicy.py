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


@dataclass(frozen=True, eq=False)
class LoggedRows:
    """The log's rows as off-policy evaluation reads them: what was done and what followed,
    and the cross-fitted nuisances."""

    actions: IntArray
    churned: FloatArray
    propensity: FloatArray
    """The probability of each row's logged action (logged or estimated, clipped)."""
    churn_under: FloatArray
    """N x A out-of-fold churn probability of each row under each action (mu)."""
    kept_value: FloatArray
    action_cost: FloatArray
    """N x A: each action's cost for each row."""

    def evaluate(self, name: str, policy: IntArray) -> PolicyValue:
        """IPS, SNIPS and DR estimates of `policy`'s churn rate and value per row."""
        weights = self._weights(policy)
        estimates: dict[str, dict[str, Estimate]] = {}
        for metric in METRICS:
            observed = self._observed(metric)
            estimates[metric] = {
                "ips": mean_with_interval(weights * observed),
                "snips": _self_normalised(weights, observed),
                "dr": mean_with_interval(self._dr_terms(metric, policy)),
            }
        return PolicyValue(
            name=name,
            treated_share=float(np.mean(policy != 0)),
            churn=estimates["churn"],
            value=estimates["value"],
        )

    def logged(self) -> PolicyValue:
        """What was actually done, "logged": the observed means (all three estimators coincide)."""
        estimates = {metric: mean_with_interval(self._observed(metric)) for metric in METRICS}
        return PolicyValue(
            name="logged",
            treated_share=float(np.mean(self.actions != 0)),
            churn=dict.fromkeys(ESTIMATORS, estimates["churn"]),
            value=dict.fromkeys(ESTIMATORS, estimates["value"]),
        )

    def difference(self, first: IntArray, second: IntArray | None, metric: str) -> Estimate:
        """DR estimate of `metric` ("churn" or "value") under `first` minus under `second`,
        with a paired interval. `second` None: what was actually done (its observed outcomes)."""
        other = self._observed(metric) if second is None else self._dr_terms(metric, second)
        return mean_with_interval(self._dr_terms(metric, first) - other)

    def _weights(self, policy: IntArray) -> FloatArray:
        rows, action_count = self.churn_under.shape
        if policy.shape != (rows,):
            raise ValueError(f"a policy has shape {policy.shape}, expected ({rows},)")
        if policy.size and not (policy.min() >= 0 and policy.max() < action_count):
            raise ValueError(f"a policy takes actions outside 0..{action_count - 1}")
        weights: FloatArray = (policy == self.actions) / self.propensity
        return weights

    def _observed(self, metric: str) -> FloatArray:
        """Each row's observed outcome under its logged action."""
        if metric == "churn":
            return self.churned.astype(np.float64)
        if metric == "value":
            observed: FloatArray = (1.0 - self.churned) * self.kept_value - _at(
                self.action_cost, self.actions
            )
            return observed
        raise ValueError(f"metric is {metric!r}, expected one of {METRICS}")

    def _modelled(self, metric: str, policy: IntArray) -> FloatArray:
        """mu_pi(x): each row's modelled outcome under the policy's action."""
        churn = _at(self.churn_under, policy)
        if metric == "churn":
            return churn
        modelled: FloatArray = (1.0 - churn) * self.kept_value - _at(self.action_cost, policy)
        return modelled

    def _dr_terms(self, metric: str, policy: IntArray) -> FloatArray:
        """Per-row doubly robust terms mu_pi(x) + 1[pi = A] / e (r - mu_A(x))."""
        residual = self._observed(metric) - self._modelled(metric, self.actions)
        terms: FloatArray = self._modelled(metric, policy) + self._weights(policy) * residual
        return terms


def _at(table: FloatArray, columns: IntArray) -> FloatArray:
    """table[i, columns[i]] for every row i."""
    picked: FloatArray = np.take_along_axis(table, columns[:, None], axis=1)[:, 0]
    return picked


def _self_normalised(weights: FloatArray, observed: FloatArray) -> Estimate:
    """SNIPS with its delta-method interval; no matching row leaves it undefined (NaN)."""
    total = float(weights.sum())
    if total == 0.0:
        return Estimate(estimate=float("nan"), low=float("nan"), high=float("nan"))
    value = float((weights * observed).sum()) / total
    influence = weights * (observed - value) / weights.mean()
    interval = mean_with_interval(influence)
    return Estimate(estimate=value, low=value + interval.low, high=value + interval.high)

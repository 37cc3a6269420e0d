"""What the effect learners start from: the churn model's risk, read over the log's horizon.

The churn model has seen far more customers than any arm of a campaign log, so the learners'
churn classifiers start from its view of each customer (XGBoost's base margin) and learn only
how the log's churn differs from it under each action. The churn model's probability p is over
the churn horizon; over the log's horizon it reads, as the simulator reads it (a constant
monthly hazard), r = 1 - (1 - p) ** power, power = log horizon / churn horizon. That reading can
be off when the churn model's outcome window is not the churn horizon the settings say (a churn
model trained on the log's own no-action rows is over the log's horizon already), so r is then
recalibrated on the log's no-action rows by a logistic fit of two numbers:

    start = sigmoid(intercept + slope x logit(r)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
_EDGE = 1e-6  # probabilities are kept this far from 0 and 1 before taking logits
_RIDGE = 1e-6  # keeps the 2 x 2 system solvable when every no-action row has the same outcome
_STEPS = 50
_HALVINGS = 40


@dataclass(frozen=True)
class ChurnStart:
    power: float
    """The log's horizon over the churn horizon."""
    intercept: float
    slope: float

    @classmethod
    def fitted(cls, churn_probability: FloatArray, churned: FloatArray, power: float) -> ChurnStart:
        """The recalibration fitted on no-action rows: their churn model probability and
        whether they churned within the log's horizon (Newton's method, each step halved until
        the likelihood does not fall, so a poor first reading cannot make it diverge)."""
        logit = _logit(_over_horizon(churn_probability, power))
        design = np.column_stack([np.ones_like(logit), logit])
        weights = np.array([0.0, 1.0])
        current = _log_likelihood(design @ weights, churned, weights)
        for _ in range(_STEPS):
            fitted = _sigmoid(design @ weights)
            gradient = design.T @ (churned - fitted) - _RIDGE * weights
            curvature = (design * (fitted * (1.0 - fitted))[:, None]).T @ design
            step = np.linalg.solve(curvature + _RIDGE * np.eye(2), gradient)
            for _ in range(_HALVINGS):
                trial = weights + step
                likelihood = _log_likelihood(design @ trial, churned, trial)
                if likelihood >= current:
                    break
                step = step / 2.0
            else:
                break  # no step up the likelihood is left: at the optimum to rounding
            weights, current = trial, likelihood
            if np.max(np.abs(step)) < 1e-10:
                break
        return cls(power=power, intercept=float(weights[0]), slope=float(weights[1]))

    def apply(self, churn_probability: npt.NDArray[np.floating[Any]]) -> FloatArray:
        """Each customer's starting churn probability within the log's horizon."""
        logit = _logit(_over_horizon(churn_probability.astype(np.float64), self.power))
        return _sigmoid(self.intercept + self.slope * logit)

    def to_json(self) -> dict[str, float]:
        return {"power": self.power, "intercept": self.intercept, "slope": self.slope}


def _over_horizon(churn_probability: FloatArray, power: float) -> FloatArray:
    over: FloatArray = 1.0 - np.clip(1.0 - churn_probability, 0.0, 1.0) ** power
    return over


def _logit(probability: FloatArray) -> FloatArray:
    clipped = np.clip(probability, _EDGE, 1.0 - _EDGE)
    logit: FloatArray = np.log(clipped / (1.0 - clipped))
    return logit


def _sigmoid(margin: FloatArray) -> FloatArray:
    value: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * margin))  # no overflow for any margin
    return value


def _log_likelihood(margin: FloatArray, churned: FloatArray, weights: FloatArray) -> float:
    """The logistic log-likelihood (numerically stable), less the ridge penalty."""
    return float(
        np.sum(churned * margin - np.logaddexp(0.0, margin)) - 0.5 * _RIDGE * weights @ weights
    )

"""Performance curves of a churn model against known outcomes: ranking and calibration.

Used twice: at training on the out-of-fold predictions (stored in the bundle), and in the report
on scored customers whose real outcome is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CURVE_POINTS = 101
CALIBRATION_GROUPS = 10


@dataclass(frozen=True)
class Curves:
    """ROC, cumulative gain and calibration, thinned to a fixed size whatever the row count."""

    contacted: list[float]
    """Share of customers contacted, highest risk first (0 to 1)."""
    captured: list[float]
    """Share of all churners among them: the cumulative gain and the ROC's true-positive rate."""
    false_alarms: list[float]
    """Share of all stayers among them: the ROC's false-positive rate."""
    predicted: list[float]
    """Mean predicted churn probability per risk decile (lowest risk first)."""
    observed: list[float]
    """Observed churn rate per risk decile."""
    customers: list[int]
    """Customers per risk decile."""

    def capture_at(self, share: float) -> float:
        """Share of churners among the `share` riskiest customers."""
        return float(np.interp(share, self.contacted, self.captured))

    def lift_at(self, share: float) -> float:
        """How many times the churn rate of the `share` riskiest customers exceeds the average."""
        return self.capture_at(share) / share

    def to_json(self) -> dict[str, list[float] | list[int]]:
        return {
            "contacted": self.contacted,
            "captured": self.captured,
            "false_alarms": self.false_alarms,
            "predicted": self.predicted,
            "observed": self.observed,
            "customers": self.customers,
        }


def performance_curves(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> Curves:
    """Curves from 0/1 outcomes (both classes present) and churn probabilities."""
    outcome_array = np.asarray(outcome, dtype=np.float64)
    probability_array = np.asarray(probability, dtype=np.float64)
    riskiest_first = np.argsort(-probability_array, kind="stable")
    churners = np.r_[0.0, np.cumsum(outcome_array[riskiest_first])]
    stayers = np.arange(outcome_array.size + 1) - churners
    rows = np.rint(np.linspace(0, outcome_array.size, CURVE_POINTS)).astype(np.int64)

    groups = np.array_split(riskiest_first[::-1], CALIBRATION_GROUPS)
    groups = [group for group in groups if group.size]
    return Curves(
        contacted=_rounded(rows / outcome_array.size),
        captured=_rounded(churners[rows] / churners[-1]),
        false_alarms=_rounded(stayers[rows] / stayers[-1]),
        predicted=_rounded(np.array([probability_array[group].mean() for group in groups])),
        observed=_rounded(np.array([outcome_array[group].mean() for group in groups])),
        customers=[int(group.size) for group in groups],
    )


def _rounded(values: FloatArray) -> list[float]:
    """Six decimals: plenty for a chart, and a compact, stable bundle.json."""
    return [round(float(value), 6) for value in values]

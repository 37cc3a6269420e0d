"""Leakage guard: features that give the outcome away, alone or by dominating the model.

Such a column ("Churn Label", "Churn Reason", a vendor's churn score, a cancellation date) is
known only after the fact, or computed from it; a model that leans on it looks excellent in
validation and is useless in practice. Two signs are checked: the column's own ROC AUC, and its
share of the final model's total mean |contribution| (what XGBoost's `pred_contribs` gives).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
import xgboost as xgb

from aura_sentinel.churn import only_stumps
from aura_sentinel.features import FeatureSpec
from aura_sentinel.metrics import roc_auc

# A single column with a ROC AUC this close to 1 is almost certainly a leak: the best churn
# models on real customer tables reach 0.80-0.90 with every column together.
LEAK_AUC = 0.99
# One column at this level alone is as good as a whole honest model: suspiciously strong.
STRONG_AUC = 0.9
# A feature carrying more than this share of the model's weight is suspiciously strong too.
DOMINANT_SHARE = 0.5
# Contributions are averaged over at most this many training rows (an even, fixed sample).
CONTRIBUTION_ROWS = 20_000

VERDICTS = ("leak", "suspiciously strong")


@dataclass(frozen=True)
class LeakWarning:
    """A feature that may give the outcome away."""

    column: str
    roc_auc: float
    """Single-column ROC AUC, the larger of AUC and 1 - AUC (0.5-1)."""
    contribution_share: float
    """Share of the model's total mean |contribution| (0-1)."""
    verdict: str
    """"leak" (ROC AUC >= LEAK_AUC) or "suspiciously strong"."""

    def to_json(self) -> dict[str, object]:
        return {
            "column": self.column,
            "roc_auc": self.roc_auc,
            "contribution_share": self.contribution_share,
            "verdict": self.verdict,
        }

    def sentence(self) -> str:
        """What was seen and what to do, in one line of plain text."""
        numbers = (
            f"ROC AUC {self.roc_auc:.3f} on its own, "
            f"{self.contribution_share:.1%} of the model's weight"
        )
        if self.verdict == "leak":
            seen = f"column '{self.column}' alone separates the outcome ({numbers})"
        else:
            seen = f"column '{self.column}' is suspiciously strong ({numbers})"
        return (
            f"{seen}: it may be known only after churn; if so, "
            f"retrain with --exclude {shlex.quote(self.column)}"
        )


def contribution_shares(
    booster: xgb.Booster, matrix: npt.NDArray[np.float32], feature_types: list[str]
) -> npt.NDArray[np.float64]:
    """Each feature's share of the model's total mean |contribution| on `matrix` (sums to 1,
    or is all 0 for a model without a split); an even sample of CONTRIBUTION_ROWS rows at most."""
    count = matrix.shape[0]
    rows = np.linspace(0, count - 1, min(count, CONTRIBUTION_ROWS)).round().astype(np.int64)
    data = xgb.DMatrix(matrix[rows], feature_types=feature_types, enable_categorical=True)
    contributions = booster.predict(data, pred_contribs=True, approx_contribs=only_stumps(booster))
    weight = np.abs(contributions[:, :-1]).mean(axis=0, dtype=np.float64)  # the last is the bias
    total = weight.sum()
    return weight / total if total > 0 else np.zeros_like(weight)


def leak_warnings(
    matrix: npt.NDArray[np.float32],
    spec: FeatureSpec,
    outcome: npt.NDArray[np.float32],
    shares: npt.NDArray[np.float64],
) -> list[LeakWarning]:
    """Every feature with a single-column ROC AUC of STRONG_AUC or more, or more than
    DOMINANT_SHARE of the model's weight (`shares`, by feature), strongest first."""
    warnings = []
    for index, column in enumerate(spec.columns):
        separation = single_column_auc(matrix[:, index], column.kind == "category", outcome)
        share = float(shares[index])
        dominant = share > DOMINANT_SHARE and len(spec.columns) > 1
        if separation >= STRONG_AUC or dominant:
            verdict = "leak" if separation >= LEAK_AUC else "suspiciously strong"
            warnings.append(LeakWarning(column.name, separation, share, verdict))
    return sorted(warnings, key=lambda warning: (-warning.roc_auc, -warning.contribution_share))


def single_column_auc(
    values: npt.NDArray[np.float32], category: bool, outcome: npt.NDArray[np.float32]
) -> float:
    """How well one column alone ranks churners above stayers: max(AUC, 1 - AUC).

    A category is scored by its level's churn rate; blanks are a level (or value) of their own.
    """
    if category:
        score = _level_churn_rate(values, outcome)
    else:
        finite = np.isfinite(values)
        floor = values[finite].min() - 1.0 if finite.any() else 0.0
        score = np.where(finite, values, floor)  # blanks as their own lowest value
    auc = roc_auc(outcome, score)
    return max(auc, 1.0 - auc)


def _level_churn_rate(
    codes: npt.NDArray[np.float32], outcome: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Each row's level churn rate, blanks counted as a level of their own."""
    frame = pl.DataFrame({"level": codes, "outcome": outcome}).with_columns(
        pl.col("level").fill_nan(None)
    )
    return (
        frame.select(pl.col("outcome").mean().over("level"))
        .get_column("outcome")
        .to_numpy()
        .astype(np.float64)
    )

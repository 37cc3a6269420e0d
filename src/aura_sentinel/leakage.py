"""Leakage guard: features that alone almost perfectly separate the outcome.

Such a column ("Churn Label", "Churn Reason", a cancellation date) is known only after the fact;
a model that leans on it looks excellent in validation and is useless in practice.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.features import FeatureSpec
from aura_sentinel.metrics import roc_auc

# One column with a single-feature ROC AUC this close to 1 is almost certainly a leak: the best
# churn models on real customer tables reach 0.80-0.90 with every column together.
LEAK_AUC = 0.99


def leaking_features(
    matrix: npt.NDArray[np.float32], spec: FeatureSpec, outcome: npt.NDArray[np.float32]
) -> list[tuple[str, float]]:
    """(name, single-feature ROC AUC) of every feature at or above LEAK_AUC, strongest first."""
    leaks: list[tuple[str, float]] = []
    for index, column in enumerate(spec.columns):
        values = matrix[:, index]
        if column.kind == "category":
            score = _level_churn_rate(values, outcome)
        else:
            finite = np.isfinite(values)
            floor = values[finite].min() - 1.0 if finite.any() else 0.0
            score = np.where(finite, values, floor)  # blanks as their own lowest value
        auc = roc_auc(outcome, score)
        separation = max(auc, 1.0 - auc)
        if separation >= LEAK_AUC:
            leaks.append((column.name, separation))
    return sorted(leaks, key=lambda leak: -leak[1])


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

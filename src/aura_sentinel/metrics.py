"""Binary classification metrics on numpy arrays: outcomes in {0, 1}, probabilities in [0, 1]."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
METRIC_NAMES = ("roc_auc", "pr_auc", "accuracy", "f1", "brier", "log_loss", "ece")
_EPSILON = 1e-15


def roc_auc(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance a random churner is ranked above a random stayer."""
    outcome_array = np.asarray(outcome, dtype=np.float64)
    ranks = _average_ranks(np.asarray(probability, dtype=np.float64))
    positives = outcome_array.sum()
    negatives = outcome_array.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    rank_sum = ranks[outcome_array == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2) / (positives * negatives))


def pr_auc(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    """Average precision: the area under the precision-recall curve, step-wise, ties grouped."""
    outcome_array = np.asarray(outcome, dtype=np.float64)
    probability_array = np.asarray(probability, dtype=np.float64)
    positives = outcome_array.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-probability_array, kind="stable")
    sorted_probability = probability_array[order]
    true_positives = np.cumsum(outcome_array[order])
    # Only the last row of each group of tied scores is a threshold.
    last_of_tie = np.r_[sorted_probability[1:] != sorted_probability[:-1], True]
    true_positives = true_positives[last_of_tie]
    predicted = np.flatnonzero(last_of_tie) + 1.0
    precision = true_positives / predicted
    recall_step = np.diff(np.r_[0.0, true_positives]) / positives
    return float(np.sum(precision * recall_step))


def accuracy(outcome: npt.ArrayLike, probability: npt.ArrayLike, threshold: float = 0.5) -> float:
    predicted = np.asarray(probability) >= threshold
    return float(np.mean(predicted == (np.asarray(outcome) == 1)))


def f1(outcome: npt.ArrayLike, probability: npt.ArrayLike, threshold: float = 0.5) -> float:
    predicted = np.asarray(probability) >= threshold
    actual = np.asarray(outcome) == 1
    true_positives = float(np.sum(predicted & actual))
    denominator = float(np.sum(predicted) + np.sum(actual))
    return 2.0 * true_positives / denominator if denominator else 0.0


def brier(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    difference = np.asarray(probability, dtype=np.float64) - np.asarray(outcome, dtype=np.float64)
    return float(np.mean(difference**2))


def log_loss(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> float:
    outcome_array = np.asarray(outcome, dtype=np.float64)
    clipped = np.clip(np.asarray(probability, dtype=np.float64), _EPSILON, 1 - _EPSILON)
    losses = outcome_array * np.log(clipped) + (1 - outcome_array) * np.log1p(-clipped)
    return float(-np.mean(losses))


def expected_calibration_error(
    outcome: npt.ArrayLike, probability: npt.ArrayLike, bins: int = 10
) -> float:
    """Mean |predicted - observed churn rate| over 10 equal-width bins, weighted by bin size."""
    outcome_array = np.asarray(outcome, dtype=np.float64)
    probability_array = np.asarray(probability, dtype=np.float64)
    bin_index = np.minimum((probability_array * bins).astype(np.int64), bins - 1)
    predicted_sum = np.bincount(bin_index, weights=probability_array, minlength=bins)
    observed_sum = np.bincount(bin_index, weights=outcome_array, minlength=bins)
    return float(np.sum(np.abs(predicted_sum - observed_sum)) / probability_array.size)


def all_metrics(outcome: npt.ArrayLike, probability: npt.ArrayLike) -> dict[str, float]:
    """Every metric the bundle records, keyed by the names in METRIC_NAMES."""
    return {
        "roc_auc": roc_auc(outcome, probability),
        "pr_auc": pr_auc(outcome, probability),
        "accuracy": accuracy(outcome, probability),
        "f1": f1(outcome, probability),
        "brier": brier(outcome, probability),
        "log_loss": log_loss(outcome, probability),
        "ece": expected_calibration_error(outcome, probability),
    }


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts_group = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group_id = np.cumsum(starts_group) - 1
    group_first = np.flatnonzero(starts_group)
    group_last = np.r_[group_first[1:], values.size] - 1
    average_rank = (group_first + group_last) / 2.0 + 1.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = average_rank[group_id]
    return ranks

"""Metrics agree with their definitions, computed the slow way."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aura_sentinel.metrics import (
    all_metrics,
    expected_calibration_error,
    log_loss,
    pr_auc,
    roc_auc,
)


def _sample(rows: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    probability = np.round(rng.uniform(size=rows), 2)  # rounding makes ties
    outcome = (rng.uniform(size=rows) < probability).astype(float)
    return outcome, probability


def test_roc_auc_is_the_share_of_correctly_ordered_pairs() -> None:
    outcome, probability = _sample()
    pairs = list(itertools.product(probability[outcome == 1], probability[outcome == 0]))
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert roc_auc(outcome, probability) == pytest.approx(expected)


def test_pr_auc_is_average_precision_over_thresholds() -> None:
    outcome, probability = _sample()
    thresholds = np.unique(probability)[::-1]
    expected, previous_recall = 0.0, 0.0
    for threshold in thresholds:
        predicted = probability >= threshold
        precision = outcome[predicted].mean()
        recall = outcome[predicted].sum() / outcome.sum()
        expected += precision * (recall - previous_recall)
        previous_recall = recall
    assert pr_auc(outcome, probability) == pytest.approx(expected)


def test_calibration_error_of_a_perfect_and_a_biased_forecast() -> None:
    outcome = np.array([0, 0, 0, 1] * 25, dtype=float)
    assert expected_calibration_error(outcome, np.full(100, 0.25)) == pytest.approx(0.0)
    assert expected_calibration_error(outcome, np.full(100, 0.45)) == pytest.approx(0.2)


def test_log_loss_of_a_coin_is_log_two() -> None:
    assert log_loss([0, 1], [0.5, 0.5]) == pytest.approx(np.log(2))


def test_all_metrics_has_the_bundle_keys() -> None:
    outcome, probability = _sample()
    assert set(all_metrics(outcome, probability)) == {
        "roc_auc",
        "pr_auc",
        "accuracy",
        "f1",
        "brier",
        "log_loss",
        "ece",
    }

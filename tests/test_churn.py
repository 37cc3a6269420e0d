"""The churn model's cross-validation: stratified folds, early stopping, compact candidates."""

from __future__ import annotations

import numpy as np

from aura_sentinel.churn import (
    BoostingSettings,
    Candidate,
    choose_candidate,
    stratified_folds,
    train_churn_model,
)


def _candidate(
    depth: int, learning_rate: float, rounds: int, fold_roc_auc: tuple[float, ...]
) -> Candidate:
    return Candidate(
        depth=depth,
        learning_rate=learning_rate,
        rounds=rounds,
        roc_auc=float(np.mean(fold_roc_auc)),
        log_loss=0.41,
        fold_roc_auc=fold_roc_auc,
    )


def test_folds_hold_the_same_share_of_churners() -> None:
    outcome = np.array([1.0] * 100 + [0.0] * 403, dtype=np.float32)
    folds = stratified_folds(outcome, 5, seed=1)
    churners = np.bincount(folds[outcome == 1], minlength=5)
    sizes = np.bincount(folds, minlength=5)
    assert churners.tolist() == [20] * 5
    assert sizes.max() - sizes.min() <= 1


def test_a_cheaper_candidate_within_noise_of_the_best_is_chosen() -> None:
    deep = _candidate(6, 0.05, 80, (0.86, 0.84, 0.85, 0.855, 0.85))
    shallow = _candidate(1, 0.05, 500, (0.85, 0.845, 0.852, 0.85, 0.851))
    assert choose_candidate([deep, shallow]) == shallow


def test_a_clearly_worse_cheap_candidate_is_not_chosen() -> None:
    deep = _candidate(4, 0.05, 80, (0.86, 0.84, 0.85, 0.855, 0.85))
    poor = _candidate(1, 0.05, 50, (0.81, 0.79, 0.80, 0.805, 0.80))
    assert choose_candidate([deep, poor]) == deep


def test_a_larger_learning_rate_needing_fewer_trees_is_chosen_when_as_accurate() -> None:
    careful = _candidate(1, 0.05, 400, (0.85, 0.845, 0.852, 0.85, 0.851))
    quick = _candidate(1, 0.2, 110, (0.851, 0.844, 0.853, 0.849, 0.851))
    assert choose_candidate([careful, quick]) == quick


def test_model_learns_an_interaction_and_reports_out_of_fold_metrics() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(2000, 3)).astype(np.float32)
    signal = 2.0 * matrix[:, 0] * matrix[:, 1]  # only trees deeper than 1 can see this
    outcome = (rng.uniform(size=2000) < 1 / (1 + np.exp(-signal))).astype(np.float32)
    settings = BoostingSettings(depths=(1, 3), max_rounds=400)
    result = train_churn_model(matrix, outcome, ["q", "q", "q"], folds=3, settings=settings)
    assert result.chosen.depth == 3
    assert {(c.depth, c.learning_rate) for c in result.candidates} == {
        (depth, rate) for depth in (1, 3) for rate in settings.learning_rates
    }
    assert result.metrics["roc_auc"] > 0.7
    assert result.out_of_fold.shape == (2000,)
    assert result.booster.num_boosted_rounds() == result.chosen.rounds

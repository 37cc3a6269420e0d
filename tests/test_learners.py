"""The multi-arm uplift learners: cross-fitted effects, the final models and their storage."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pytest

from aura_sentinel.effects.learners import (
    LEARNERS,
    FittedLearner,
    LearningData,
    cross_fit,
    fit_final,
)
from aura_sentinel.metrics import roc_auc

FloatArray = npt.NDArray[np.float64]
ALL_TRIED = (True, True, True)
SEED = 7


@dataclass(frozen=True)
class SyntheticLog:
    """A targeted three-action log with known churn under each action."""

    data: LearningData
    folds: npt.NDArray[np.int64]
    propensities: FloatArray
    logged_propensity: FloatArray
    true_churn: FloatArray


def synthetic_log(rows: int, seed: int) -> SyntheticLog:
    """Action 1 helps rows with a high feature 1 a lot; action 2 helps rows with a high
    feature 2 and backfires for the others; the assignment favours action 1 for risky rows."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(rows, 4)).astype(np.float32)
    matrix[:, 3] = rng.integers(0, 3, rows)  # a category
    features = matrix.astype(np.float64)
    churn_none = 1 / (1 + np.exp(-(features[:, 0] - 0.3)))
    effect_one = -0.4 / (1 + np.exp(-3 * features[:, 1]))
    effect_two = 0.12 - 0.3 / (1 + np.exp(-3 * features[:, 2]))
    true_churn = np.clip(
        np.column_stack([churn_none, churn_none + effect_one, churn_none + effect_two]), 0, 1
    )
    logits = np.column_stack([np.zeros(rows), 0.5 * features[:, 0], np.full(rows, -0.2)])
    propensities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    actions = (rng.random(rows)[:, None] > propensities.cumsum(axis=1)).sum(axis=1)
    actions = np.minimum(actions, 2).astype(np.int64)
    churned = (rng.random(rows) < true_churn[np.arange(rows), actions]).astype(np.float64)
    folds = rng.permutation(np.arange(rows) % 3).astype(np.int64)
    data = LearningData(matrix, ["q", "q", "q", "c"], actions, churned, 3)
    logged = propensities[np.arange(rows), actions]
    return SyntheticLog(data, folds, propensities, logged, true_churn)


def spearman(left: FloatArray, right: FloatArray) -> float:
    def ranks(values: FloatArray) -> FloatArray:
        return np.argsort(np.argsort(values)).astype(np.float64)

    return float(np.corrcoef(ranks(left), ranks(right))[0, 1])


def run_cross_fit(
    learner: str,
    log: SyntheticLog,
    tried: tuple[bool, ...] = ALL_TRIED,
    t_out_of_fold: FloatArray | None = None,
    threads: int = 1,
) -> FloatArray:
    return cross_fit(
        learner,
        log.data,
        log.folds,
        log.propensities,
        log.logged_propensity,
        tried,
        SEED,
        threads,
        t_out_of_fold=t_out_of_fold,
    )


def run_fit_final(
    learner: str,
    log: SyntheticLog,
    tried: tuple[bool, ...] = ALL_TRIED,
    threads: int = 1,
    t_out_of_fold: FloatArray | None = None,
) -> FittedLearner:
    unused = np.empty((0, 0))  # T and S are fitted on the rows alone
    if t_out_of_fold is None:
        t_out_of_fold = unused if learner in ("T", "S") else run_cross_fit("T", log, tried)
    out_of_fold = run_cross_fit(learner, log, tried, t_out_of_fold) if learner == "X" else unused
    return fit_final(
        learner, log.data, log.logged_propensity, tried, SEED, threads, t_out_of_fold, out_of_fold
    )


@pytest.fixture(scope="module")
def large_log() -> SyntheticLog:
    return synthetic_log(9_000, seed=1)


@pytest.fixture(scope="module")
def large_t_out_of_fold(large_log: SyntheticLog) -> FloatArray:
    return run_cross_fit("T", large_log)


@pytest.fixture(scope="module")
def small_log() -> SyntheticLog:
    return synthetic_log(1_500, seed=2)


@pytest.mark.parametrize("learner", LEARNERS)
def test_every_learner_recovers_a_strong_heterogeneous_effect(
    learner: str, large_log: SyntheticLog, large_t_out_of_fold: FloatArray
) -> None:
    churn = run_cross_fit(learner, large_log, t_out_of_fold=large_t_out_of_fold)
    assert churn.shape == (9_000, 3)
    assert ((churn >= 0) & (churn <= 1)).all()
    for action in (1, 2):
        estimated = churn[:, action] - churn[:, 0]
        true = large_log.true_churn[:, action] - large_log.true_churn[:, 0]
        assert spearman(estimated, true) >= 0.7, (learner, action)


@pytest.mark.parametrize("learner", LEARNERS)
def test_out_of_fold_predictions_never_use_the_rows_own_fold(
    learner: str, small_log: SyntheticLog
) -> None:
    # A feature equal to the outcome on fold 0 only (missing elsewhere): a model that saw fold 0
    # would predict fold 0 almost perfectly through it.
    leak = np.where(small_log.folds == 0, small_log.data.churned, np.nan).astype(np.float32)
    matrix = np.column_stack([small_log.data.matrix, leak])
    data = replace(
        small_log.data, matrix=matrix, feature_types=[*small_log.data.feature_types, "q"]
    )
    leaky = replace(small_log, data=data)
    churn = run_cross_fit(learner, leaky)
    fold = small_log.folds == 0
    logged = churn[np.flatnonzero(fold), data.actions[fold]]
    assert roc_auc(data.churned[fold].astype(np.float32), logged) < 0.85


@pytest.mark.parametrize("learner", LEARNERS)
def test_untried_actions_mirror_no_action(learner: str, small_log: SyntheticLog) -> None:
    tried = (True, True, False)
    churn = run_cross_fit(learner, small_log, tried=tried)
    assert np.array_equal(churn[:, 2], churn[:, 0])
    assert not np.array_equal(churn[:, 1], churn[:, 0])
    fitted = run_fit_final(learner, small_log, tried=tried)
    scored = fitted.churn_under_actions(small_log.data.matrix, small_log.data.feature_types)
    assert np.array_equal(scored[:, 2], scored[:, 0])


@pytest.mark.parametrize("learner", LEARNERS)
def test_fitted_learner_round_trips_through_bytes(learner: str, small_log: SyntheticLog) -> None:
    fitted = run_fit_final(learner, small_log)
    blobs = fitted.to_bytes()
    expected_models = {"T": 3, "S": 1, "X": 3, "DR": 3}[learner]
    assert len(blobs) == expected_models
    restored = FittedLearner.from_bytes(learner, blobs, 3, ALL_TRIED)
    matrix, types = small_log.data.matrix, small_log.data.feature_types
    assert np.array_equal(
        restored.churn_under_actions(matrix, types), fitted.churn_under_actions(matrix, types)
    )
    assert restored.to_bytes() == blobs


@pytest.fixture(scope="module")
def tiny_log() -> SyntheticLog:
    return synthetic_log(600, seed=3)


# X's extra models are grown by the same code as DR's regressors, so three learners cover it;
# growing models at two threads is slow on a busy machine (OpenMP threads spin while waiting).
@pytest.mark.parametrize("learner", ["T", "S", "DR"])
def test_final_models_are_the_same_bytes_at_one_and_two_threads(
    learner: str, tiny_log: SyntheticLog
) -> None:
    t_out_of_fold = run_cross_fit("T", tiny_log)
    one = run_fit_final(learner, tiny_log, threads=1, t_out_of_fold=t_out_of_fold)
    two = run_fit_final(learner, tiny_log, threads=2, t_out_of_fold=t_out_of_fold)
    assert one.to_bytes() == two.to_bytes()


def test_fitted_learner_predicts_the_same_at_one_and_two_threads(
    small_log: SyntheticLog,
) -> None:
    fitted = run_fit_final("S", small_log)
    matrix, types = small_log.data.matrix, small_log.data.feature_types
    one = fitted.churn_under_actions(matrix, types, threads=1)
    assert np.array_equal(one, fitted.churn_under_actions(matrix, types, threads=2))


@pytest.mark.parametrize("learner", LEARNERS)
def test_final_models_rank_new_customers_by_their_true_effect(
    learner: str, large_log: SyntheticLog, large_t_out_of_fold: FloatArray
) -> None:
    fitted = run_fit_final(learner, large_log, t_out_of_fold=large_t_out_of_fold)
    fresh = synthetic_log(3_000, seed=9)
    churn = fitted.churn_under_actions(fresh.data.matrix, fresh.data.feature_types)
    for action in (1, 2):
        true = fresh.true_churn[:, action] - fresh.true_churn[:, 0]
        assert spearman(churn[:, action] - churn[:, 0], true) >= 0.7, (learner, action)


def test_from_bytes_refuses_a_wrong_number_of_models(small_log: SyntheticLog) -> None:
    blobs = run_fit_final("T", small_log).to_bytes()
    with pytest.raises(ValueError, match="needs 3 models, got 2"):
        FittedLearner.from_bytes("T", blobs[:2], 3, ALL_TRIED)


def test_an_unknown_learner_is_refused(small_log: SyntheticLog) -> None:
    with pytest.raises(ValueError, match="unknown learner 'R'"):
        run_cross_fit("R", small_log)


@pytest.mark.parametrize("learner", LEARNERS)
def test_a_start_from_the_churn_model_spares_the_arms_relearning_the_risk(
    learner: str, small_log: SyntheticLog
) -> None:
    """Given the true no-action churn as the start, every learner's no-action churn follows it
    closer than when each arm must learn the risk from its own few rows; and scoring with
    the start gives the cross-fitted predictions' kind of values, not the bare margins."""
    start = small_log.true_churn[:, 0]
    started = replace(small_log, data=replace(small_log.data, start=start))
    plain = run_cross_fit(learner, small_log)
    with_start = run_cross_fit(learner, started)
    error_plain = np.mean(np.abs(plain[:, 0] - start))
    error_started = np.mean(np.abs(with_start[:, 0] - start))
    assert error_started < 0.8 * error_plain, (error_started, error_plain)
    fitted = run_fit_final(learner, started)
    matrix, types = small_log.data.matrix, small_log.data.feature_types
    scored = fitted.churn_under_actions(matrix, types, start=start)
    assert np.mean(np.abs(scored[:, 0] - start)) < error_plain
    assert not np.allclose(scored, fitted.churn_under_actions(matrix, types))

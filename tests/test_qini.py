"""The held-out criteria: scikit-uplift's normalised Qini and the doubly robust AUUC."""

from __future__ import annotations

import numpy as np
import pytest

from aura_sentinel.effects.qini import (
    dr_uplift_auc,
    qini_auc_score,
    qini_curve,
    select_learner,
)

# Eight rows: four treated (two responders), four controls (two responders).
OUTCOME = np.array([1, 0, 1, 0, 1, 0, 0, 1])
TREATED = np.array([1, 1, 1, 1, 0, 0, 0, 0])
PERFECT = OUTCOME * TREATED - OUTCOME * (1 - TREATED)  # treated responders first, controls last


def test_perfect_ranking_scores_one() -> None:
    assert qini_auc_score(OUTCOME, PERFECT, TREATED) == pytest.approx(1.0)


def test_reversed_ranking_scores_negative() -> None:
    # -0.25 was computed with scikit-uplift 0.5.1 (negative_effect=True).
    assert qini_auc_score(OUTCOME, -PERFECT, TREATED) == pytest.approx(-0.25)


def test_constant_score_scores_zero() -> None:
    assert qini_auc_score(OUTCOME, np.full(8, 0.5), TREATED) == pytest.approx(0.0)


def test_qini_matches_scikit_uplift_on_a_hand_checked_ranking() -> None:
    # 0.8333... was computed with scikit-uplift 0.5.1 (negative_effect=True).
    uplift = [0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.5, 0.05]
    assert qini_auc_score(OUTCOME, uplift, TREATED) == pytest.approx(0.8333333333333334, abs=1e-12)


def test_qini_matches_scikit_uplift_with_ties_on_random_data() -> None:
    # Expected values computed with scikit-uplift 0.5.1 on the same seeded arrays; the scores
    # are rounded to one decimal, so many rows tie (including -0.0 against 0.0).
    rng = np.random.default_rng(5)
    outcome, treated = rng.integers(0, 2, 40), rng.integers(0, 2, 40)
    uplift = np.round(rng.normal(size=40), 1)
    assert qini_auc_score(outcome, uplift, treated) == pytest.approx(0.09554103234792004, abs=1e-12)

    rng = np.random.default_rng(11)
    feature, treated = rng.normal(size=1000), rng.integers(0, 2, 1000)
    outcome = (rng.random(1000) < 0.3 + 0.2 * treated * (feature > 0)).astype(int)
    uplift = np.round(feature + rng.normal(size=1000), 1)
    assert qini_auc_score(outcome, uplift, treated) == pytest.approx(0.04728411995177559, abs=1e-12)


def test_qini_curve_has_one_point_per_distinct_score_from_the_origin() -> None:
    targeted, gain = qini_curve(OUTCOME, [3, 3, 2, 2, 1, 1, 1, 1], TREATED)
    assert targeted.tolist() == [0, 2, 4, 8]
    # After 2 rows: one treated responder, no control; at the end: 2 - 2 x 4/4.
    assert gain.tolist() == [0, 1, 2, 0]


def test_qini_rejects_a_non_binary_outcome() -> None:
    with pytest.raises(ValueError, match="0 and 1"):
        qini_auc_score([0, 2, 1], [0.1, 0.2, 0.3], [0, 1, 1])


def _targeted_log(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True benefit p_0 - p_a and its AIPW pseudo-outcome on a targeted (non-random) log."""
    rng = np.random.default_rng(seed)
    feature = rng.normal(size=rows)
    churn_none = 1 / (1 + np.exp(-0.5 * feature))
    benefit = 0.3 / (1 + np.exp(-3 * feature))
    churn_action = churn_none - benefit
    propensity = 1 / (1 + np.exp(-0.5 * feature))  # the action goes more to high-risk rows
    treated = rng.random(rows) < propensity
    churned = (rng.random(rows) < np.where(treated, churn_action, churn_none)).astype(float)
    psi_none = churn_none + ~treated * (churned - churn_none) / (1 - propensity)
    psi_action = churn_action + treated * (churned - churn_action) / propensity
    return benefit, psi_none - psi_action


def test_dr_uplift_auc_is_near_zero_for_a_random_ranking() -> None:
    benefit, pseudo = _targeted_log(20_000, seed=3)
    random_scores = np.random.default_rng(4).random(benefit.size)
    assert abs(dr_uplift_auc(random_scores, pseudo)) < 0.03


def test_dr_uplift_auc_is_clearly_positive_for_the_true_benefit() -> None:
    benefit, pseudo = _targeted_log(20_000, seed=3)
    assert dr_uplift_auc(benefit, pseudo) > 0.08  # random rankings: 0.002 +- 0.006
    assert dr_uplift_auc(-benefit, pseudo) < -0.08


def test_dr_uplift_auc_is_one_for_the_pseudo_outcome_itself_and_zero_for_ties() -> None:
    _, pseudo = _targeted_log(2_000, seed=5)
    assert dr_uplift_auc(pseudo, pseudo) == pytest.approx(1.0)
    assert dr_uplift_auc(np.zeros_like(pseudo), pseudo) == pytest.approx(0.0, abs=1e-12)


def test_dr_uplift_auc_is_zero_when_no_ranking_can_beat_random() -> None:
    assert dr_uplift_auc([0.3, 0.1, 0.2], [1.0, 1.0, 1.0]) == 0.0


NO_ERRORS = {"T": 0.0, "S": 0.0, "X": 0.0, "DR": 0.0}


def test_select_learner_takes_the_best_criterion_when_it_is_clearly_best() -> None:
    assert select_learner({"T": 0.02, "S": 0.01, "X": 0.05, "DR": 0.04}, NO_ERRORS) == "X"
    errors = {"T": 0.01, "S": 0.01, "X": 0.01, "DR": 0.01}
    assert select_learner({"T": 0.02, "S": 0.01, "X": 0.05, "DR": 0.04}, errors) == "X"


def test_select_learner_takes_the_simplest_within_one_standard_error_of_the_best() -> None:
    criteria = {"T": 0.080, "S": 0.091, "X": 0.093, "DR": 0.070}
    assert select_learner(criteria, {"T": 0.005, "S": 0.006, "X": 0.007, "DR": 0.01}) == "S"
    assert select_learner(criteria, {"T": 0.005, "S": 0.006, "X": 0.015, "DR": 0.01}) == "T"
    assert select_learner(criteria, {"T": 0.005, "S": 0.006, "X": 0.001, "DR": 0.01}) == "X"


def test_select_learner_breaks_ties_and_nan_towards_the_simpler_learner() -> None:
    assert select_learner({"DR": 0.05, "X": 0.05, "S": float("nan")}, NO_ERRORS) == "X"
    assert select_learner({"T": float("nan"), "DR": float("nan")}, NO_ERRORS) == "T"
    assert select_learner({"T": 0.01, "X": 0.05}, {"T": 0.0, "X": float("nan")}) == "X"

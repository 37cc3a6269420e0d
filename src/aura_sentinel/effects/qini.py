"""Held-out criteria for an uplift ranking: the Qini coefficient and a doubly robust AUUC.

`qini_auc_score` is scikit-uplift's normalised Qini (`sklift.metrics.qini_auc_score`,
negative_effect=True), for randomised data and positive outcomes. `dr_uplift_auc` is its
counterpart for any log, targeted or not: the curve is built from AIPW pseudo-outcomes, so it needs
no randomisation, only the propensities (logged or estimated). `select_learner` picks the learner
with the best criterion.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aura_sentinel.effects.learners import LEARNERS

FloatArray = npt.NDArray[np.float64]


def qini_curve(
    outcome: npt.ArrayLike, uplift: npt.ArrayLike, treated: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Points of the Qini curve, as scikit-uplift draws it: after targeting the top k rows by
    `uplift`, the treated responders minus the control responders scaled to the treated count.
    There is one point per distinct `uplift` value (tied rows enter together), from (0, 0).

    `outcome` is the positive response (1 = e.g. stayed or visited), `treated` is 0/1.
    """
    response = np.asarray(outcome, dtype=np.float64)
    score = np.asarray(uplift, dtype=np.float64)
    treatment = np.asarray(treated, dtype=np.float64)
    if not response.shape == score.shape == treatment.shape or response.ndim != 1 or not score.size:
        raise ValueError("outcome, uplift and treated must be 1-d arrays of the same length")
    order = np.argsort(score, kind="mergesort")[::-1]
    response, score, treatment = response[order], score[order], treatment[order]
    last_of_each_value = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    targeted = last_of_each_value + 1.0
    treated_count = np.cumsum(treatment)[last_of_each_value]
    control_count = targeted - treated_count
    treated_responders = np.cumsum(response * treatment)[last_of_each_value]
    control_responders = np.cumsum(response * (1 - treatment))[last_of_each_value]
    scale = np.divide(
        treated_count,
        control_count,
        out=np.zeros_like(treated_count),
        where=control_count != 0,
    )
    gain = treated_responders - control_responders * scale
    return np.r_[0.0, targeted], np.r_[0.0, gain]


def qini_auc_score(outcome: npt.ArrayLike, uplift: npt.ArrayLike, treated: npt.ArrayLike) -> float:
    """Normalised Qini coefficient: the area between the Qini curve and the random line, over the
    same area for the perfect ranking (treated responders first, control responders last).
    1.0 is perfect, about 0 random, negative worse than random. Equals scikit-uplift's
    `qini_auc_score(y_true, uplift, treatment, negative_effect=True)`."""
    response = np.asarray(outcome, dtype=np.float64)
    treatment = np.asarray(treated, dtype=np.float64)
    if not np.isin(response, (0.0, 1.0)).all() or not np.isin(treatment, (0.0, 1.0)).all():
        raise ValueError("outcome and treated must hold only 0 and 1")
    targeted, gain = qini_curve(response, uplift, treatment)
    perfect_targeted, perfect_gain = qini_curve(
        response, response * treatment - response * (1 - treatment), treatment
    )
    random_area = perfect_targeted[-1] * perfect_gain[-1] / 2
    return float(
        (_area(targeted, gain) - random_area)
        / (_area(perfect_targeted, perfect_gain) - random_area)
    )


def dr_uplift_auc(benefit_score: npt.ArrayLike, pseudo_benefit: npt.ArrayLike) -> float:
    """Doubly robust area under the uplift curve of one action, normalised like the Qini.

    Rows are ranked by predicted benefit (p_0 - p_a, descending); the curve is the running sum of
    each row's AIPW pseudo-outcome of the benefit (psi_0 - psi_a, from held-out predictions and
    the propensities), an unbiased estimate of the churn the action would avoid if given to the
    top k rows, on a randomised or a targeted log alike. The criterion is the area between that
    curve and the straight line of random targeting, divided by the same area for the ranking
    by the pseudo-outcome itself (the best any ranking can reach on these rows).

    Why that normaliser rather than N x sum|pseudo|: it keeps the scale of the Qini coefficient
    (1 perfect, about 0 random, negative worse than random), and being itself of the order of
    N x sum|pseudo| it makes the criterion comparable across actions and log sizes. Learners are
    compared on the same rows and pseudo-outcomes, so it never changes which wins for an action.
    Tied scores enter together, as in the Qini curve. Returns 0.0 when no ranking can do better
    than random (all pseudo-outcomes equal).
    """
    score = np.asarray(benefit_score, dtype=np.float64)
    pseudo = np.asarray(pseudo_benefit, dtype=np.float64)
    if score.shape != pseudo.shape or score.ndim != 1 or score.size == 0:
        raise ValueError(
            "benefit_score and pseudo_benefit must be non-empty 1-d arrays, same length"
        )
    random_area = pseudo.size * pseudo.sum() / 2
    best_area = _area(*_gain_curve(pseudo, pseudo)) - random_area
    if best_area <= 0:
        return 0.0
    return float((_area(*_gain_curve(score, pseudo)) - random_area) / best_area)


def select_learner(criteria: dict[str, float], standard_errors: dict[str, float]) -> str:
    """The simplest learner (in `LEARNERS` order) whose criterion is within one standard error
    of the best one's: the one-standard-error rule of cross-validation (Hastie, Tibshirani and
    Friedman, section 7.10). Held-out criteria are noisy, and the best-looking learner is often
    best by luck; among learners the evidence cannot tell apart, the simplest is the safest.
    A NaN criterion never wins."""
    candidates = [learner for learner in LEARNERS if learner in criteria]
    if not candidates:
        raise ValueError("no criterion for any known learner")

    def value(learner: str) -> float:
        criterion = criteria[learner]
        return -np.inf if np.isnan(criterion) else criterion

    best = max(candidates, key=lambda learner: (value(learner), -LEARNERS.index(learner)))
    error = standard_errors.get(best, 0.0)
    bar = value(best) - (0.0 if np.isnan(error) else error)
    return next(learner for learner in candidates if value(learner) >= bar)


def _gain_curve(score: FloatArray, gain: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Running sum of `gain` over rows sorted by `score` descending, one point per distinct
    score, from (0, 0)."""
    order = np.argsort(score, kind="mergesort")[::-1]
    sorted_score = score[order]
    last_of_each_value = np.r_[np.flatnonzero(np.diff(sorted_score)), score.size - 1]
    running = np.cumsum(gain[order])[last_of_each_value]
    return np.r_[0.0, last_of_each_value + 1.0], np.r_[0.0, running]


def _area(x: FloatArray, y: FloatArray) -> float:
    """Trapezoidal area under the points (x increasing), as sklearn's `auc`."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))

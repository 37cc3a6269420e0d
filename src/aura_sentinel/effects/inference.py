"""How sure we are of each action's effect: AIPW estimates with 95% intervals, and shrinkage.

The doubly-robust (AIPW) pseudo-value of row i's churn under action a is

    psi_a,i = mu_a(x_i) + 1[A_i = a] (Y_i - mu_a(x_i)) / e_i

with mu_a the out-of-fold churn model under a and e_i the probability of the logged action. Its
mean is right when either the churn models or the propensities are, and the effect of a against
no action is the mean of psi_a - psi_0, whose 95% interval comes from the sample variance of the
per-row terms (the estimator's influence function).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aura_sentinel.errors import DataError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MIN_ACTION_ROWS = 200
"""Fewer logged rows than this and an action is "not tried": never modelled, never recommended.
With 200 rows and a churn rate near 25%, the arm's own churn rate is known to about +-6 points
(95%), already the size of the effects at stake; below that an arm's model is noise."""
MIN_SEGMENT_ROWS = 50
"""Segment cells with fewer rows than this get no estimate of their own (their interval would
be wider than any effect); in shrinkage they are pooled together."""
Z_95 = 1.959964


@dataclass(frozen=True)
class EffectEstimate:
    """An action's average effect on churn against no action, over a segment of the log."""

    action: int
    segment: str
    """"all", or a segmentation and its label, e.g. "contract: Month-to-month"."""
    rows: int
    churn_no_action: float
    churn_with_action: float
    effect: float
    """churn_with_action - churn_no_action: negative means the action keeps customers."""
    low: float
    high: float
    """The 95% confidence interval of `effect`."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def tried_actions(actions: IntArray, action_count: int, source: str) -> tuple[bool, ...]:
    """Which actions the log holds enough rows of (`MIN_ACTION_ROWS`) to learn their effect.

    No action (0) must be tried: every effect is learned against doing nothing, so a log
    without enough no-action rows is refused with a DataError naming `source`.
    """
    counts = np.bincount(actions, minlength=action_count)[:action_count]
    if counts[0] < MIN_ACTION_ROWS:
        raise DataError(
            source,
            f"the campaign log has only {counts[0]} rows with no action (at least "
            f"{MIN_ACTION_ROWS} are needed); effects are learned against doing nothing",
            "log a hold-out group that got no action",
        )
    return tuple(bool(count >= MIN_ACTION_ROWS) for count in counts)


def aipw_scores(
    churned: FloatArray,
    actions: IntArray,
    logged_propensity: FloatArray,
    churn_under: FloatArray,
) -> FloatArray:
    """N x A doubly-robust pseudo-values psi_a,i of each row's churn under each action."""
    scores = np.array(churn_under, dtype=np.float64)
    rows = np.arange(scores.shape[0])
    residual = churned - scores[rows, actions]
    scores[rows, actions] += residual / logged_propensity
    return scores


def average_effects(scores: FloatArray, tried: tuple[bool, ...]) -> list[EffectEstimate]:
    """The average effect of each tried action against no action over the whole log."""
    return _estimates(scores, tried, "all")


def segment_effects(
    scores: FloatArray,
    tried: tuple[bool, ...],
    segments: Mapping[str, tuple[IntArray, tuple[str, ...]]],
) -> list[EffectEstimate]:
    """The effect of each tried action in each segment cell.

    `segments` maps a segmentation's name (e.g. "contract") to each row's code (an index into
    its labels; other codes belong to no cell) and the labels. Cells with fewer than
    `MIN_SEGMENT_ROWS` rows are skipped: their interval would be too wide to say anything.
    """
    estimates: list[EffectEstimate] = []
    for name, (codes, labels) in segments.items():
        for code, label in enumerate(labels):
            in_cell = codes == code
            if np.count_nonzero(in_cell) >= MIN_SEGMENT_ROWS:
                estimates += _estimates(scores[in_cell], tried, f"{name}: {label}")
    return estimates


def shrink_effects(
    effects: FloatArray,
    scores: FloatArray,
    tried: tuple[bool, ...],
    segment_codes: IntArray,
) -> tuple[FloatArray, tuple[float, ...]]:
    """Per-customer effects pulled towards their segment's effect, and the pull per action.

    `effects` is N x A, each customer's out-of-fold p_a - p_0. For each tried action:

    - the segment's effect is the learner's segment mean moved towards the segment's AIPW mean
      by empirical Bayes: by tau^2 / (tau^2 + se^2), with se^2 the AIPW mean's sampling variance
      and tau^2 how far the learner's segment means stray from the AIPW ones beyond that noise
      (estimated over the segments). A learner the log contradicts is corrected; noisy AIPW means
      of small segments do not overrule a learner the log agrees with;
    - a customer's deviation from the segment's mean estimate is scaled by lambda_a in [0, 1]:
      the slope of the per-row AIPW effect on that deviation (the best linear predictor's
      calibration slope). Heterogeneity the log confirms is kept (slope near 1); noise the log
      does not confirm is shrunk away (slope near 0).

    Segment cells with fewer than `MIN_SEGMENT_ROWS` rows are pooled. Returns the shrunk N x A
    effects (0 for no action and for actions not tried) and lambda per action (0 for those).
    """
    groups = _pooled_groups(segment_codes)
    sizes = np.bincount(groups).astype(np.float64)
    shrunk = np.zeros(effects.shape, dtype=np.float64)
    lambdas = [0.0] * len(tried)
    for action in range(1, len(tried)):
        if not tried[action]:
            continue
        observed = scores[:, action] - scores[:, 0]
        estimated = effects[:, action].astype(np.float64)
        observed_mean = np.bincount(groups, observed) / sizes
        estimated_mean = np.bincount(groups, estimated) / sizes
        anchor = _segment_anchor(observed, groups, sizes, observed_mean, estimated_mean)
        deviation = estimated - estimated_mean[groups]
        spread = float(deviation @ deviation)
        observed_deviation = observed - observed_mean[groups]
        slope = float(observed_deviation @ deviation) / spread if spread > 0 else 0.0
        lambdas[action] = float(np.clip(slope, 0.0, 1.0))
        shrunk[:, action] = anchor[groups] + lambdas[action] * deviation
    return shrunk, tuple(lambdas)


def _segment_anchor(
    observed: FloatArray,
    groups: IntArray,
    sizes: FloatArray,
    observed_mean: FloatArray,
    estimated_mean: FloatArray,
) -> FloatArray:
    """Each segment's effect: the learner's mean moved towards the AIPW mean by empirical Bayes
    (see `shrink_effects`)."""
    squares = np.bincount(groups, (observed - observed_mean[groups]) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        noise = np.where(sizes > 1, squares / (sizes - 1) / sizes, np.inf)  # se^2 of each mean
    finite = np.isfinite(noise)
    gap = (observed_mean - estimated_mean) ** 2 - noise
    tau2 = max(float(np.average(gap[finite], weights=sizes[finite])), 0.0) if finite.any() else 0.0
    weight = np.where(finite, tau2 / np.maximum(tau2 + noise, 1e-300), 0.0)
    anchor: FloatArray = estimated_mean + weight * (observed_mean - estimated_mean)
    return anchor


def _estimates(scores: FloatArray, tried: tuple[bool, ...], segment: str) -> list[EffectEstimate]:
    rows = scores.shape[0]
    estimates = []
    for action in range(1, len(tried)):
        if not tried[action]:
            continue
        difference = scores[:, action] - scores[:, 0]
        effect = float(difference.mean())
        half_width = Z_95 * float(np.sqrt(difference.var(ddof=1) / rows))
        estimates.append(
            EffectEstimate(
                action=action,
                segment=segment,
                rows=rows,
                churn_no_action=float(scores[:, 0].mean()),
                churn_with_action=float(scores[:, action].mean()),
                effect=effect,
                low=effect - half_width,
                high=effect + half_width,
            )
        )
    return estimates


def _pooled_groups(segment_codes: IntArray) -> IntArray:
    """Each row's group 0..G-1: its segment cell, or one shared group for all small cells."""
    _, cells, counts = np.unique(segment_codes, return_inverse=True, return_counts=True)
    small = counts < MIN_SEGMENT_ROWS
    group_of_cell = np.where(small, 0, np.cumsum(~small))
    groups: IntArray = group_of_cell[cells.reshape(-1)].astype(np.int64)
    if not small.any():
        groups -= 1
    return groups

"""AIPW effects with intervals, segment effects, "not tried" actions and shrinkage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aura_sentinel.effects.inference import (
    MIN_ACTION_ROWS,
    MIN_SEGMENT_ROWS,
    EffectEstimate,
    aipw_scores,
    average_effects,
    segment_effects,
    shrink_effects,
    tried_actions,
)
from aura_sentinel.errors import DataError

ALL_TRIED = (True, True, True)


class SyntheticLog:
    """A three-action log with known churn under each action: action 1 helps customers with a
    high x, action 2 backfires a little for everyone. Randomised or targeted on x."""

    def __init__(self, seed: int, rows: int = 2000, targeted: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.uniform(0, 1, rows)
        no_action = 0.15 + 0.3 * self.x
        self.truth = np.column_stack([no_action, no_action - 0.12 * self.x, no_action + 0.03])
        if targeted:  # the riskier the customer, the likelier action 1
            weights = np.column_stack([1.5 - self.x, 0.5 + 2 * self.x, np.full(rows, 0.5)])
        else:
            weights = np.ones((rows, 3))
        self.propensities = weights / weights.sum(axis=1, keepdims=True)
        draws = rng.random(rows)[:, None] > np.cumsum(self.propensities, axis=1)
        self.actions = draws.sum(axis=1).astype(np.int64)
        every_row = np.arange(rows)
        self.churned = (rng.random(rows) < self.truth[every_row, self.actions]).astype(np.float64)
        self.logged_propensity = self.propensities[every_row, self.actions]

    def scores(self, churn_under: np.ndarray | None = None) -> np.ndarray:
        model = self.truth if churn_under is None else churn_under
        return aipw_scores(self.churned, self.actions, self.logged_propensity, model)


def test_an_action_with_too_few_logged_rows_is_not_tried() -> None:
    actions = np.repeat([0, 1, 2, 3], [MIN_ACTION_ROWS, MIN_ACTION_ROWS - 1, 500, 0])
    assert tried_actions(actions.astype(np.int64), 4, "log.csv") == (True, False, True, False)


def test_a_log_without_enough_no_action_rows_is_refused_naming_the_file() -> None:
    actions = np.repeat([0, 1], [MIN_ACTION_ROWS - 1, 5000]).astype(np.int64)
    with pytest.raises(DataError) as caught:
        tried_actions(actions, 2, "campaigns.csv")
    message = str(caught.value)
    assert message.startswith("campaigns.csv: ")
    assert f"only {MIN_ACTION_ROWS - 1} rows with no action" in message
    assert "log a hold-out group that got no action" in message


def test_aipw_scores_add_the_weighted_residual_to_the_logged_action_only() -> None:
    churn_under = np.array([[0.2, 0.1], [0.4, 0.3]])
    scores = aipw_scores(np.array([1.0, 0.0]), np.array([1, 0]), np.array([0.5, 0.25]), churn_under)
    expected = np.array([[0.2, 0.1 + (1.0 - 0.1) / 0.5], [0.4 + (0.0 - 0.4) / 0.25, 0.3]])
    np.testing.assert_allclose(scores, expected)
    assert churn_under[0, 1] == 0.1  # the model's predictions are not changed in place


def test_average_effect_intervals_cover_the_truth_about_95_percent_of_the_time() -> None:
    covered = []
    for seed in range(200):
        log = SyntheticLog(seed, targeted=seed % 2 == 1)
        true_effects = (log.truth[:, 1:] - log.truth[:, :1]).mean(axis=0)
        for estimate in average_effects(log.scores(), ALL_TRIED):
            covered.append(estimate.low <= true_effects[estimate.action - 1] <= estimate.high)
    coverage = float(np.mean(covered))
    assert 0.90 <= coverage <= 0.99, coverage


def test_a_wrong_churn_model_with_right_propensities_still_finds_the_effects() -> None:
    errors = []
    for seed in range(40):
        log = SyntheticLog(seed, rows=4000, targeted=True)
        constant = np.full(log.truth.shape, 0.3)  # knows nothing about x or the actions
        estimates = average_effects(log.scores(constant), ALL_TRIED)
        true_effects = (log.truth[:, 1:] - log.truth[:, :1]).mean(axis=0)
        errors.append([estimate.effect for estimate in estimates] - true_effects)
    bias = np.mean(errors, axis=0)
    assert np.all(np.abs(bias) < 0.01), bias  # one estimate's standard error is about 0.03


def test_average_effects_report_each_tried_action_against_no_action() -> None:
    log = SyntheticLog(0, rows=5000)
    estimates = average_effects(log.scores(), (True, False, True))
    assert [estimate.action for estimate in estimates] == [2]
    backfire = estimates[0]
    assert backfire.segment == "all" and backfire.rows == 5000
    assert backfire.effect == pytest.approx(backfire.churn_with_action - backfire.churn_no_action)
    assert backfire.low < 0.03 < backfire.high
    assert backfire.churn_no_action == pytest.approx(0.3, abs=0.03)


def test_segment_effects_estimate_each_cell_and_skip_small_ones() -> None:
    log = SyntheticLog(1, rows=6000)
    high_x = (log.x > 0.5).astype(np.int64)
    high_x[: MIN_SEGMENT_ROWS - 1] = 2  # a cell too small to estimate
    segments = {"x": (high_x, ("low", "high", "tiny"))}
    estimates = segment_effects(log.scores(), ALL_TRIED, segments)
    cells = {(estimate.segment, estimate.action): estimate for estimate in estimates}
    assert set(cells) == {(f"x: {label}", action) for label in ("low", "high") for action in (1, 2)}
    for label, code in (("low", 0), ("high", 1)):
        in_cell = high_x == code
        truth = (log.truth[in_cell, 1] - log.truth[in_cell, 0]).mean()
        estimate = cells[(f"x: {label}", 1)]
        assert estimate.rows == int(in_cell.sum())
        assert estimate.low <= truth <= estimate.high
    assert cells[("x: high", 1)].effect < cells[("x: low", 1)].effect  # helps the high x more


def test_an_effect_estimate_is_plain_json() -> None:
    log = SyntheticLog(2)
    record = average_effects(log.scores(), ALL_TRIED)[0].to_json()
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {field for field in EffectEstimate.__dataclass_fields__}
    assert all(type(record[name]) is float for name in ("effect", "low", "high"))


def test_shrinkage_keeps_heterogeneity_the_log_confirms() -> None:
    log = SyntheticLog(3, rows=20000)
    true_effects = log.truth - log.truth[:, :1]
    segments = np.zeros(20000, dtype=np.int64)
    shrunk, lambdas = shrink_effects(true_effects, log.scores(), ALL_TRIED, segments)
    assert lambdas[0] == 0.0
    assert lambdas[1] > 0.7  # x drives action 1's effect and the log shows it
    assert np.corrcoef(shrunk[:, 1], true_effects[:, 1])[0, 1] > 0.999


def test_shrinkage_removes_noise_the_log_does_not_confirm() -> None:
    log = SyntheticLog(4, rows=20000)
    noise = np.random.default_rng(0).normal(0, 0.2, (20000, 3))
    segments = (log.x > 0.5).astype(np.int64)
    shrunk, lambdas = shrink_effects(noise, log.scores(), ALL_TRIED, segments)
    assert lambdas[2] < 0.15
    assert shrunk[:, 2].std() < 0.2 * noise[:, 2].std()


def test_segments_the_learner_gets_wrong_are_moved_to_their_aipw_effect() -> None:
    """The learner is off by +-0.2 in whole segments, far beyond the AIPW means' noise: the
    segments' effects follow the log."""
    log = SyntheticLog(5, rows=5000)
    scores = log.scores()
    segments = (log.x * 3).astype(np.int64)
    bias = np.array([0.2, -0.2, 0.2])[segments]
    wrong = log.truth - log.truth[:, :1] + bias[:, None]
    shrunk, _ = shrink_effects(wrong, scores, ALL_TRIED, segments)
    for segment in range(3):
        in_segment = segments == segment
        aipw = (scores[in_segment, 1] - scores[in_segment, 0]).mean()
        learner = wrong[in_segment, 1].mean()
        assert abs(shrunk[in_segment, 1].mean() - aipw) < 0.1 * abs(learner - aipw)


def test_noisy_small_segments_do_not_overrule_a_learner_the_log_agrees_with() -> None:
    """The learner has the true effects; forty small segments' AIPW means are mostly noise: the
    segments keep the learner's means, far closer to the truth than the AIPW means."""
    log = SyntheticLog(8, rows=4000)
    scores = log.scores()
    segments = np.arange(4000, dtype=np.int64) % 40
    true_effects = log.truth - log.truth[:, :1]
    shrunk, _ = shrink_effects(true_effects, scores, ALL_TRIED, segments)
    truth_mean = np.bincount(segments, true_effects[:, 1]) / 100
    shrunk_mean = np.bincount(segments, shrunk[:, 1]) / 100
    aipw_mean = np.bincount(segments, scores[:, 1] - scores[:, 0]) / 100
    assert np.abs(shrunk_mean - truth_mean).mean() < 0.25 * np.abs(aipw_mean - truth_mean).mean()


def test_small_segment_cells_are_pooled_in_shrinkage() -> None:
    """Two cells too small for a mean of their own share one: their customers get one effect,
    between the learner's (zero) and the pooled AIPW effect."""
    log = SyntheticLog(6, rows=3000)
    scores = log.scores()
    segments = np.zeros(3000, dtype=np.int64)
    segments[:10], segments[10:20] = 1, 2
    shrunk, _ = shrink_effects(np.zeros((3000, 3)), scores, ALL_TRIED, segments)
    pooled = (scores[:20, 1] - scores[:20, 0]).mean()
    assert np.unique(shrunk[:20, 1]).size == 1
    assert min(0.0, pooled) - 1e-12 <= shrunk[0, 1] <= max(0.0, pooled) + 1e-12


def test_actions_not_tried_get_no_effect_after_shrinkage() -> None:
    log = SyntheticLog(7)
    effects = log.truth - log.truth[:, :1]
    segments = np.zeros(2000, dtype=np.int64)
    shrunk, lambdas = shrink_effects(effects, log.scores(), (True, True, False), segments)
    assert np.all(shrunk[:, 2] == 0.0) and np.all(shrunk[:, 0] == 0.0)
    assert lambdas[2] == 0.0

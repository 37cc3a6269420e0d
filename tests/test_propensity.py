"""Propensities: recovered from a known assignment rule, reproducible, and diagnosed."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from aura_sentinel.effects.propensity import (
    PROPENSITY_FLOOR,
    cross_fitted_probabilities,
    diagnose,
    estimate_propensities,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FEATURE_TYPES = ["q", "q", "c"]


def assignment_rule(matrix: npt.NDArray[np.float32]) -> FloatArray:
    """Rows x 3 known chance of no action, action 1 and action 2, from the features."""
    logits = np.stack(
        [
            np.zeros(matrix.shape[0]),
            2.0 * matrix[:, 0] - 1.0,
            -1.5 * matrix[:, 1] + (matrix[:, 2] == 1),
        ],
        axis=1,
    )
    chances = np.exp(logits)
    normalised: FloatArray = chances / chances.sum(axis=1, keepdims=True)
    return normalised


def campaign(
    rows: int, seed: int
) -> tuple[npt.NDArray[np.float32], IntArray, FloatArray, IntArray]:
    """Features (two numbers, one category), actions drawn by the rule, the rule, folds."""
    rng = np.random.default_rng(seed)
    matrix = np.column_stack(
        [rng.uniform(size=rows), rng.uniform(size=rows), rng.integers(0, 3, rows)]
    ).astype(np.float32)
    chances = assignment_rule(matrix)
    actions = (rng.uniform(size=rows)[:, None] > chances.cumsum(axis=1)).sum(axis=1)
    folds = rng.permutation(np.arange(rows) % 5)
    return matrix, np.minimum(actions, 2).astype(np.int64), chances, folds.astype(np.int64)


def test_estimated_propensities_recover_a_known_assignment_rule() -> None:
    matrix, actions, chances, folds = campaign(20_000, seed=1)
    propensities = estimate_propensities(matrix, FEATURE_TYPES, actions, 3, folds, 3, 1)
    assert np.abs(propensities.all - chances).mean() < 0.03
    taken = chances[np.arange(actions.size), actions]
    assert np.abs(propensities.logged_action - taken).mean() < 0.03
    assert propensities.diagnostics.logged is False


def test_same_seed_gives_the_same_bytes_at_one_and_two_threads() -> None:
    matrix, actions, _, folds = campaign(1500, seed=2)
    one = estimate_propensities(matrix, FEATURE_TYPES, actions, 3, folds, 5, 1)
    two = estimate_propensities(matrix, FEATURE_TYPES, actions, 3, folds, 5, 2)
    assert one.all.tobytes() == two.all.tobytes()
    assert one.logged_action.tobytes() == two.logged_action.tobytes()
    assert one.diagnostics == two.diagnostics


def test_cross_fitted_probabilities_sum_to_one_and_never_given_actions_get_zero() -> None:
    matrix, actions, _, folds = campaign(2000, seed=3)
    probabilities = cross_fitted_probabilities(matrix, FEATURE_TYPES, actions, 4, folds, 1, 1)
    assert probabilities.shape == (2000, 4)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.all(probabilities[:, 3] == 0.0)
    assert np.all(probabilities[:, :3] > 0.0)


def test_an_action_never_logged_is_floored_and_has_no_effective_sample() -> None:
    matrix, actions, _, folds = campaign(2000, seed=3)
    propensities = estimate_propensities(matrix, FEATURE_TYPES, actions, 4, folds, 1, 1)
    assert np.all(propensities.all[:, 3] == PROPENSITY_FLOOR)
    assert propensities.all.min() >= PROPENSITY_FLOOR
    assert propensities.diagnostics.effective_sample_size[3] == 0.0
    assert propensities.diagnostics.overlap > 0.95  # the untried action does not count


def test_logged_propensities_are_used_for_the_logged_action() -> None:
    matrix, actions, chances, folds = campaign(2000, seed=4)
    logged = chances[np.arange(actions.size), actions]
    logged[:5] = 0.001
    propensities = estimate_propensities(matrix, FEATURE_TYPES, actions, 3, folds, 1, 1, logged)
    assert np.array_equal(propensities.logged_action[5:], logged[5:])
    assert np.all(propensities.logged_action[:5] == PROPENSITY_FLOOR)
    assert propensities.all.shape == (2000, 3)  # still estimated, for the learners
    assert propensities.diagnostics.logged is True
    assert propensities.diagnostics.clipped_rows == 5


def test_a_logged_propensity_that_is_not_a_probability_is_refused() -> None:
    matrix, actions, _, folds = campaign(200, seed=5)
    logged = np.full(200, 0.5)
    logged[2] = 1.5
    logged[7] = np.nan
    with pytest.raises(ValueError, match=r"2 logged propensities .* index 2: 1\.5"):
        estimate_propensities(matrix, FEATURE_TYPES, actions, 3, folds, 1, 1, logged)


def test_overlap_falls_when_an_action_is_never_given_to_a_subgroup() -> None:
    matrix, _, _, folds = campaign(4000, seed=6)
    rng = np.random.default_rng(6)
    randomised = rng.integers(0, 3, 4000).astype(np.int64)
    excluded = matrix[:, 0] < 0.3  # this subgroup never gets action 2
    targeted = np.where(excluded & (randomised == 2), 0, randomised).astype(np.int64)
    randomised_log, targeted_log = (
        estimate_propensities(matrix, FEATURE_TYPES, actions, 3, folds, 1, 1)
        for actions in (randomised, targeted)
    )
    assert randomised_log.diagnostics.overlap > 0.99
    assert targeted_log.diagnostics.overlap < 0.95
    outside = targeted_log.all[:, 2] == PROPENSITY_FLOOR
    assert excluded[outside].mean() > 0.95  # the rows outside the overlap are the subgroup


def test_effective_sample_size_equals_the_row_count_for_uniform_weights() -> None:
    actions = np.array([0, 0, 0, 1, 1, 2], dtype=np.int64)
    estimated = np.full((6, 4), 0.25)
    diagnostics = diagnose(estimated, np.full(6, 0.25), actions, (True,) * 3 + (False,), False)
    assert diagnostics.effective_sample_size == pytest.approx((3.0, 2.0, 1.0, 0.0))
    assert diagnostics.largest_weight == pytest.approx(4.0)


def test_effective_sample_size_shrinks_when_weights_vary() -> None:
    actions = np.zeros(4, dtype=np.int64)
    diagnostics = diagnose(
        np.full((4, 2), 0.5), np.array([0.5, 0.5, 0.5, 0.05]), actions, (True, True), False
    )
    # weights 2, 2, 2, 20: (26)^2 / (3 x 4 + 400)
    assert diagnostics.effective_sample_size[0] == pytest.approx(26**2 / 412)


def test_clipping_is_counted_and_caps_the_largest_weight() -> None:
    actions = np.zeros(5, dtype=np.int64)
    logged = np.array([0.5, 0.004, 0.009, 0.01, 0.2])
    diagnostics = diagnose(np.full((5, 2), 0.5), logged, actions, (True, True), True)
    assert diagnostics.clipped_rows == 2
    assert diagnostics.largest_weight == pytest.approx(1 / PROPENSITY_FLOOR)


def test_overlap_counts_rows_every_tried_action_could_reach() -> None:
    estimated = np.array([[0.5, 0.5, 0.0], [0.995, 0.005, 0.0], [0.3, 0.7, 0.0]])
    actions = np.zeros(3, dtype=np.int64)
    diagnostics = diagnose(estimated, estimated[:, 0], actions, (True, True, False), False)
    assert diagnostics.overlap == pytest.approx(2 / 3)


def test_diagnostics_are_plain_json() -> None:
    diagnostics = diagnose(
        np.full((2, 2), 0.5), np.full(2, 0.5), np.array([0, 1]), (True, True), True
    )
    data = json.loads(json.dumps(diagnostics.to_json(), allow_nan=False))
    assert data == {
        "logged": True,
        "floor": PROPENSITY_FLOOR,
        "clipped_rows": 0,
        "effective_sample_size": [1.0, 1.0],
        "largest_weight": 2.0,
        "overlap": 1.0,
    }


def test_overlap_ignores_an_action_that_is_not_tried() -> None:
    matrix, actions, _, folds = campaign(2000, seed=7)
    rare = np.where(actions == 2, 0, actions)
    rare[:3] = 2  # three rows: too few to model, so not tried
    tried = (True, True, False)
    counted, ignored = (
        estimate_propensities(matrix, FEATURE_TYPES, rare, 3, folds, 1, 1, tried=chosen)
        for chosen in (None, tried)
    )
    assert counted.diagnostics.overlap < 0.5
    assert ignored.diagnostics.overlap > 0.95

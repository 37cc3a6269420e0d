"""One-step plans on learned effects, the rules they are compared with, the shrinkage rule and
the cross-fitting folds."""

from __future__ import annotations

import numpy as np

from aura_sentinel.effects.learn import stratified_folds
from aura_sentinel.effects.planning import (
    action_costs,
    action_values,
    best_actions,
    kept_value,
    risk_rule,
    treat_the_riskiest,
)
from aura_sentinel.effects.shrinkage import Shrinkage, shrinkage_cells
from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import (
    CHURN_PROBABILITY,
    CONTRACT,
    MONTHLY_CHARGES,
    STATE_COLUMNS,
    TENURE,
)


def _state(probability: list[float], charge: list[float]) -> np.ndarray:
    state = np.zeros((len(probability), len(STATE_COLUMNS)), dtype=np.float32)
    state[:, CHURN_PROBABILITY] = probability
    state[:, MONTHLY_CHARGES] = charge
    return state


def test_a_kept_customer_is_worth_a_months_margin_and_the_discounted_lifetime_after_it() -> None:
    simulator = Simulator()
    state = _state([0.3, 0.6], [50.0, 80.0])
    margin, gamma = simulator.settings.margin, simulator.settings.discount
    expected = state[:, MONTHLY_CHARGES] * (margin + gamma * simulator.lifetime_value(state))
    assert np.allclose(kept_value(simulator, state, 1.0), expected)
    assert (kept_value(simulator, state, 3.0) > kept_value(simulator, state, 1.0)).all()


def test_the_plan_takes_the_best_tried_action_and_never_an_untried_one() -> None:
    catalog = ActionCatalog()
    state = _state([0.3, 0.3], [100.0, 100.0])
    churn = np.array([[0.10, 0.09, 0.08, 0.02, 0.02, 0.0], [0.10, 0.10, 0.10, 0.10, 0.10, 0.10]])
    values = action_values(churn, np.array([1000.0, 1000.0]), action_costs(catalog, state))
    assert best_actions(values, (True,) * 6).tolist() == [3, 0]  # 970 beats 965 for the call
    assert best_actions(values, (True, True, True, False, True, True)).tolist() == [5, 0]


def test_treating_the_riskiest_contacts_the_highest_scores_only() -> None:
    plan = treat_the_riskiest(np.array([0.2, 0.9, 0.5, 0.9]), 2, action=3)
    assert plan.tolist() == [0, 3, 0, 3]


def test_the_risk_rule_follows_the_thresholds() -> None:
    assert risk_rule(ActionCatalog(), np.array([0.8, 0.5, 0.1])).tolist() == [5, 3, 1]


def test_the_shrinkage_rule_reproduces_the_fitted_rows_and_covers_unseen_cells() -> None:
    rng = np.random.default_rng(1)
    estimated = rng.normal(size=(200, 3))
    estimated[:, 0] = 0
    cells = rng.integers(0, 4, 200)
    offsets = np.array([[0, 0.1, 0.2], [0, -0.1, 0.0], [0, 0.3, -0.2], [0, 0.0, 0.05]])
    shrunk = estimated * np.array([0.0, 0.5, 0.8]) + offsets[cells]
    rule = Shrinkage.fitted(estimated, shrunk, (0.0, 0.5, 0.8), cells)
    assert np.allclose(rule.apply(estimated, cells), shrunk)
    unseen = rule.apply(estimated[:2], np.array([9, 9]))
    assert np.allclose(unseen, estimated[:2] * np.array([0.0, 0.5, 0.8]) + rule.default_offset)


def test_shrinkage_cells_combine_contract_and_tenure_band_when_known() -> None:
    state = _state([0.1, 0.1, 0.1], [1.0, 1.0, 1.0])
    state[:, CONTRACT] = [0, 2, 2]
    state[:, TENURE] = [3, 30, 60]
    assert shrinkage_cells(state, ("contract", "tenure")).tolist() == [0, 10, 11]
    assert shrinkage_cells(state, ("tenure",)).tolist() == [0, 2, 3]
    assert shrinkage_cells(state, ()).tolist() == [0, 0, 0]


def test_folds_deal_every_action_and_outcome_evenly() -> None:
    rng = np.random.default_rng(2)
    actions = rng.integers(0, 3, 3_000)
    churned = (rng.random(3_000) < 0.2).astype(float)
    folds = stratified_folds(actions, churned, 5, seed=3)
    for action in range(3):
        for outcome in (0.0, 1.0):
            counts = np.bincount(folds[(actions == action) & (churned == outcome)], minlength=5)
            assert counts.max() - counts.min() <= 1
    assert (stratified_folds(actions, churned, 5, seed=3) == folds).all()

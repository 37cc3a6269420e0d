"""Simulator invariants and the state builder."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from aura_sentinel.retention.catalog import Action, ActionCatalog
from aura_sentinel.retention.oracle import optimal_values
from aura_sentinel.retention.simulator import Simulator, SimulatorSettings
from aura_sentinel.retention.state import (
    DAYS_SINCE_CONTACT,
    ENGAGEMENT,
    RECENT_INTERVENTIONS,
    STATE_COLUMNS,
    StateSources,
    build_state,
    resolve_state_sources,
    with_learned_effects,
)


def _states(count: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    state = np.column_stack(
        [
            rng.uniform(0, 0.99, count),  # churn probability
            rng.integers(0, 3, count),  # contract
            rng.integers(0, 3, count),  # internet
            rng.uniform(0, 72, count),  # tenure
            rng.uniform(18, 120, count),  # monthly charges
            rng.integers(0, 5, count),  # recent interventions
            rng.choice([0, 30, 60, 90], count),  # days since contact
            rng.uniform(0, 1, count),  # response rate
            rng.uniform(0, 1, count),  # engagement
        ]
    )
    return state.astype(np.float32)


def test_survival_probabilities_are_within_zero_and_one() -> None:
    survival, _ = Simulator().tables(_states())
    assert survival.min() >= 0.0
    assert survival.max() <= 1.0


def test_costs_are_the_catalog_share_of_the_monthly_charge() -> None:
    simulator = Simulator(settings=SimulatorSettings(margin=1.0))
    state = _states()
    state[:, 0] = 0.0  # nobody leaves, so the reward is the charge minus the cost
    _, reward = simulator.current(state)
    charge = state[:, 4].astype(np.float64)[:, None]
    expected = charge - np.asarray(ActionCatalog().cost_shares)[None, :] * charge
    np.testing.assert_allclose(reward, expected, rtol=1e-6)


def test_more_fatigue_never_helps() -> None:
    simulator = Simulator()
    state = _states()
    survival, _ = simulator.tables(state)
    _, months = simulator.grid()
    for month in range(simulator.months_buckets):
        by_fatigue = survival[:, months == month, :]  # ordered by recent interventions
        assert np.all(np.diff(by_fatigue, axis=1) <= 1e-12)


def test_backlash_appears_from_the_documented_number_of_recent_contacts() -> None:
    settings = SimulatorSettings()
    simulator = Simulator(settings=settings)
    state = _states()
    survival, _ = simulator.tables(state)
    recent, _ = simulator.grid()
    before = survival[:, recent == settings.backlash_after - 1, 1:]
    after = survival[:, recent >= settings.backlash_after, 1:]
    no_action_before = survival[:, recent == settings.backlash_after - 1, :1]
    no_action_after = survival[:, recent >= settings.backlash_after, :1]
    assert np.all(before >= no_action_before - 1e-12)  # contact still helps or is neutral
    risky = state[:, 0] > 0.01
    assert np.all(after[risky] < no_action_after[risky])  # contact now raises churn


def test_a_step_moves_the_controllable_state_and_charges_the_cost() -> None:
    simulator = Simulator()
    state = _states(4)
    state[:, RECENT_INTERVENTIONS] = 1
    state[:, DAYS_SINCE_CONTACT] = 60
    next_state, reward, _ = simulator.step(state, np.array([0, 1, 3, 5]), np.random.default_rng(0))
    assert next_state[:, RECENT_INTERVENTIONS].tolist() == [0, 2, 2, 2]
    assert next_state[:, DAYS_SINCE_CONTACT].tolist() == [90, 30, 30, 30]
    assert np.all(reward[1:] < Simulator().settings.margin * state[1:, 4])


def _by_default_names(frame: pl.DataFrame) -> StateSources:
    return resolve_state_sources(frame.columns, {}, "t")


def test_state_reads_the_telco_columns_and_documented_defaults() -> None:
    frame = pl.DataFrame(
        {
            "Contract": ["Month-to-month", "One year", "Two year"],
            "InternetService": ["Fiber optic", "DSL", "No"],
            "tenure": [1.0, 30.0, None],
            "MonthlyCharges": [70.0, 50.0, 20.0],
            "PhoneService": ["Yes", "Yes", "Yes"],
            "StreamingTV": ["Yes", "No", "No internet service"],
        }
    )
    state = build_state(frame, [0.5, 0.2, 0.1], 0.3, _by_default_names(frame))
    assert state.shape == (3, len(STATE_COLUMNS))
    assert state[:, 1].tolist() == [0, 1, 2]
    assert state[:, 2].tolist() == [2, 1, 0]
    assert state[:, 3].tolist() == [1, 30, 12]  # blank tenure -> default
    assert state[:, 5].tolist() == [0, 0, 0]  # no recent interventions column
    assert state[:, 6].tolist() == [90, 90, 90]
    assert state[:, 7].tolist() == pytest.approx([0.3] * 3)
    assert state[:, ENGAGEMENT].tolist() == pytest.approx([1.0, 2 / 3, 1 / 3])


def test_state_uses_behaviour_columns_when_present() -> None:
    frame = pl.DataFrame(
        {
            "recent_interventions": [2, 0],
            "days_since_contact": [10, 400],
            "response_rate": [0.9, 0.05],
            "engagement": [0.2, 0.8],
        }
    )
    state = build_state(frame, [0.3, 0.3], 0.3, _by_default_names(frame))
    np.testing.assert_allclose(state[:, 5:], [[2, 10, 0.9, 0.2], [0, 400, 0.05, 0.8]], rtol=1e-6)


def test_state_from_level_codes_equals_the_state_from_text() -> None:
    """Scoring passes the model matrix's level codes: the text rules then run per level. Blank
    cells, levels the codes do not know, odd case and a category stored as numbers all give
    what the rules give on the text itself."""
    from aura_sentinel.features import FeatureColumn, FeatureSpec

    frame = pl.DataFrame(
        {
            "Contract": ["Two year", "one YEAR", None, "2-year plan", "Month-to-month", "weird"],
            "InternetService": ["Fiber optic", "NONE", None, "DSL", "fibre", "No"],
            "PhoneService": ["Yes", "No", None, "YES", "maybe", "Yes"],
            "StreamingTV": [1.0, 0.0, None, 1.0, 1.0, 0.0],
            "tenure": [1, 2, 3, 4, 5, 6],
        }
    )
    trained = pl.DataFrame(  # the levels training saw: not every level above
        {
            "Contract": ["Month-to-month", "Two year"],
            "InternetService": ["DSL", "Fiber optic"],
            "PhoneService": ["No", "Yes"],
            "StreamingTV": ["0", "1"],
        }
    )
    spec = FeatureSpec(
        tuple(
            FeatureColumn(name, "category", tuple(trained.get_column(name).to_list()))
            for name in trained.columns
        )
    )
    codes = spec.level_codes(frame, spec.matrix(frame, "t"))
    assert set(codes) == {"Contract", "InternetService", "PhoneService"}  # text columns only
    probability = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    from_codes = build_state(frame, probability, 0.3, _by_default_names(frame), codes)
    from_text = build_state(frame, probability, 0.3, _by_default_names(frame))
    np.testing.assert_array_equal(from_codes, from_text)
    assert from_codes[:, 1].tolist() == [2, 1, 0, 2, 0, 0]
    assert from_codes[:, 2].tolist() == [2, 0, 1, 1, 2, 0]


def test_each_action_takes_its_effect_and_cost_from_its_own_record() -> None:
    """Reordering the catalog's records reorders the simulator's actions, nothing else."""
    default = ActionCatalog()
    order = [0, 5, 3, 1, 4, 2]
    shuffled = ActionCatalog(tuple(default.actions[index] for index in order))
    state = _states()
    survival, reward = Simulator().tables(state)
    shuffled_survival, shuffled_reward = Simulator(catalog=shuffled).tables(state)
    np.testing.assert_array_equal(shuffled_survival, survival[:, :, order])
    np.testing.assert_array_equal(shuffled_reward, reward[:, :, order])


def test_an_action_marked_as_a_discount_depends_on_price_sensitivity() -> None:
    default = ActionCatalog()
    email = default.actions[1]
    discounted_email = Action(email.name, email.cost_share, email.effect, discount=True)
    catalog = ActionCatalog((default.actions[0], discounted_email, *default.actions[2:]))
    state = _states()
    state[:, 2] = [0, 1, 2] * (len(state) // 3) + [1] * (len(state) % 3)  # internet service
    plain, _ = Simulator().current(state)
    discounted, _ = Simulator(catalog=catalog).current(state)
    dsl, fiber = state[:, 2] == 1, state[:, 2] == 2  # price sensitivity 1.0 and 1.3
    np.testing.assert_array_equal(discounted[dsl], plain[dsl])
    risky_fiber = fiber & (state[:, 0] > 0.05) & (state[:, RECENT_INTERVENTIONS] < 3)
    assert np.all(discounted[risky_fiber, 1] > plain[risky_fiber, 1])
    np.testing.assert_array_equal(discounted[:, 2:], plain[:, 2:])


def test_learned_effects_in_the_state_replace_the_assumed_ones_but_backlash_stays() -> None:
    assumed_simulator = Simulator()
    simulator = Simulator(tried=(True,) * assumed_simulator.catalog.size)
    state = with_learned_effects(_states(), np.zeros((len(_states()), simulator.catalog.size)))
    survival, _ = simulator.tables(state)
    recent, _ = simulator.grid()
    calm = survival[:, recent < simulator.settings.backlash_after, :]
    np.testing.assert_array_equal(calm, np.repeat(calm[:, :, :1], simulator.catalog.size, axis=2))
    risky = state[:, 0] > 0.01
    backfiring = survival[risky][:, recent >= simulator.settings.backlash_after, :]
    assert np.all(backfiring[:, :, 1:] < backfiring[:, :, :1])
    assumed, _ = assumed_simulator.current(state)
    learned, _ = simulator.current(state)
    assert not np.array_equal(assumed, learned)


def test_actions_not_tried_are_never_chosen_by_the_optimum() -> None:
    tried = (True, True, False, True, False, False)
    simulator = Simulator(tried=tried)
    rng = np.random.default_rng(4)
    state = _states()
    helpful = rng.uniform(0.0, 0.9, (len(state), simulator.catalog.size))
    learned = with_learned_effects(state, helpful)
    actions, _ = optimal_values(simulator, learned)
    assert set(np.unique(actions)) <= {0, 1, 3}
    everything, _ = optimal_values(Simulator(tried=(True,) * 6), learned)
    assert set(np.unique(everything)) - {0, 1, 3}  # the masked actions would have been chosen
    with pytest.raises(ValueError):
        Simulator(tried=(False, True, True, True, True, True))


def test_the_campaign_horizon_is_the_churn_horizon_unless_set() -> None:
    assert SimulatorSettings(churn_horizon_months=6.0).campaign_horizon == 6.0
    set_apart = SimulatorSettings(churn_horizon_months=6.0, campaign_horizon_months=2.0)
    assert set_apart.campaign_horizon == 2.0

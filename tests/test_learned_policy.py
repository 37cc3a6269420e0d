"""The retention policy on learned effects, against the issue's targets (issue 18).

Certification: `train --campaigns` on a 20,000-row synthetic log (one action made "not tried")
trains the DQN on the simulator calibrated with the learned effects and examines it exactly on
held-out customers: it must reach 0.95 of the optimum's gain over no action and beat every
baseline, and neither it nor the optimum may ever choose the action the log did not try.

A randomised experiment with heterogeneous effects (`heterogeneous_experiment.py`): one call
that helps half of the customers and hurts the rest, so that calling everyone and calling no
one churn alike. The plan, valued under the truth on fresh customers, must beat both and
"treat the riskiest" by more than three standard errors.

The multi-month value of the plan under the true effects is measured by the benchmark
(`nox -s bench -- learned`), which uses `bundle_plan` below.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from heterogeneous_experiment import (
    backfire_share,
    generate_experiment,
    helped,
    paired_difference,
    write_policy_config,
)

from aura_sentinel.bundle import effect_learner, load_bundle, policy_record, policy_weights
from aura_sentinel.churn import predict_probability
from aura_sentinel.demo import generate_customers
from aura_sentinel.demo_campaigns import ACTION_NAMES, generate_campaign_log
from aura_sentinel.effects.models import EffectModel
from aura_sentinel.effects.planning import treat_the_riskiest
from aura_sentinel.retention.config import PolicySettings, load_policy_config, simulator_for
from aura_sentinel.retention.dqn import QNetwork, greedy_actions
from aura_sentinel.retention.evaluation import PolicyEvaluation
from aura_sentinel.retention.oracle import optimal_values, policy_table
from aura_sentinel.retention.policy import load_network
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import LEARNED_EFFECTS, StateMatrix, build_state
from aura_sentinel.training import TrainOptions, train

LOG_COLUMNS = ("action", "propensity", "Churn")
LOG_ROWS = 20_000
MASKED = 4
"""The 20% discount: all but `MASKED_ROWS` of its rows are dropped, so the log did not try it."""
MASKED_ROWS = 50
CERTIFIED_ITERATIONS = 4_000
BASELINES = (
    "no_action",
    "always_email",
    "risk_rule",
    "myopic",
    "best_single_action",
    "treat_the_riskiest",
)


@dataclass(frozen=True)
class BundlePlan:
    """What a bundle trained with `--campaigns` makes of some customers."""

    churn_probability: npt.NDArray[np.float64]
    """The churn model's score."""
    state: StateMatrix
    """The state with each customer's learned effects."""
    simulator: Simulator
    """The simulator calibrated with the learned effects, masking the actions not tried."""
    network: QNetwork
    actions: npt.NDArray[np.int64]
    """The DQN's choice for each customer in their own state."""


def bundle_plan(models: Path, customers: pl.DataFrame) -> BundlePlan:
    """The bundle's churn score, learned state, simulator and plan for `customers`."""
    bundle = load_bundle(models)
    manifest, policy = bundle.manifest, policy_record(bundle)
    learner = effect_learner(bundle)
    assert manifest.effects is not None and learner is not None
    spec = manifest.features
    probability = predict_probability(
        bundle.booster, spec.matrix(customers, "fresh"), spec.xgboost_types
    ).astype(np.float64)
    settings = policy.settings
    state = build_state(
        customers, probability, settings.simulator.response_prior, manifest.state_sources
    )
    learned, _ = EffectModel(manifest.effects, learner).learned_state(
        customers, state, settings.simulator, "fresh"
    )
    simulator = simulator_for(settings, manifest.effects.tried)
    network = load_network(policy_weights(bundle), settings, learned.shape[1], "policy.pt")
    actions = greedy_actions(network, learned, simulator.allowed)
    return BundlePlan(probability, learned, simulator, network, actions)


def one_month_campaign_settings(iterations: int) -> PolicySettings:
    """The default settings, for a log whose outcome window is one month."""
    base = PolicySettings()
    return replace(
        base,
        simulator=replace(base.simulator, campaign_horizon_months=1.0),
        dqn=replace(base.dqn, iterations=iterations),
    )


# Certification on learned effects -----------------------------------------------------------


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle trained on 7,043 demo customers and a 20,000-row log without the 20% discount.

    The DQN's settings are the defaults but for the iterations: 4,000 instead of 10,000, to keep
    the suite short. On two cores the whole `train` took 86 s with the default 10,000 (gain
    ratio 0.961) and 47 s with 4,000 (0.954); 2,000 reached 0.931, short of the target."""
    folder = tmp_path_factory.mktemp("certified")
    log, _ = generate_campaign_log(LOG_ROWS, seed=5)
    is_masked = (log["action"] == ACTION_NAMES[MASKED]).to_numpy()
    log = log.filter(pl.Series(~is_masked | (np.cumsum(is_masked) <= MASKED_ROWS)))
    log.write_parquet(folder / "log.parquet")
    generate_customers(7_043, seed=3).write_parquet(folder / "customers.parquet")
    options = TrainOptions(
        policy_settings=one_month_campaign_settings(CERTIFIED_ITERATIONS),
        campaigns=folder / "log.parquet",
        threads=2,
    )
    train(folder / "customers.parquet", folder / "models", options)
    return folder / "models"


@pytest.fixture(scope="module")
def certification(certified: Path) -> PolicyEvaluation:
    evaluation = load_bundle(certified).manifest.policy
    assert evaluation is not None
    return evaluation.evaluation


def test_the_log_without_the_discount_leaves_it_not_tried(certified: Path) -> None:
    effects = load_bundle(certified).manifest.effects
    assert effects is not None
    assert effects.tried == tuple(action != MASKED for action in range(len(ACTION_NAMES)))


def test_the_dqn_on_learned_effects_reaches_095_of_the_optimum_on_held_out_customers(
    certification: PolicyEvaluation,
) -> None:
    assert certification.customers > 1_000
    assert certification.gain_ratio >= 0.95, certification.values


@pytest.mark.parametrize("baseline", BASELINES)
def test_the_dqn_on_learned_effects_beats_the_baseline(
    certification: PolicyEvaluation, baseline: str
) -> None:
    assert certification.values["dqn"] > certification.values[baseline], certification.values


def test_an_action_not_tried_is_chosen_neither_by_the_dqn_nor_by_the_optimum(
    certified: Path,
) -> None:
    """In every controllable state of fresh customers, even when their state says the action
    not tried would remove most of the hazard (the optimum without the mask would choose it)."""
    plan = bundle_plan(certified, generate_customers(1_000, seed=4).drop("Churn"))
    tempting = plan.state.copy()
    tempting[:, LEARNED_EFFECTS + MASKED - 1] = 0.9
    unmasked = replace(plan.simulator, tried=(True,) * plan.simulator.catalog.size)
    assert np.any(optimal_values(unmasked, tempting)[0] == MASKED)
    allowed = plan.simulator.allowed
    for state in (plan.state, tempting):
        dqn = policy_table(
            plan.simulator, state, lambda states: greedy_actions(plan.network, states, allowed)
        )
        optimum, _ = optimal_values(plan.simulator, state)
        assert not np.any(dqn == MASKED)
        assert not np.any(optimum == MASKED)


# The heterogeneous randomised experiment ----------------------------------------------------

EXPERIMENT_ROWS = 10_000
FRESH_ROWS = 20_000
EXPERIMENT_ITERATIONS = 1_000


@dataclass(frozen=True)
class Experiment:
    truth: npt.NDArray[np.float64]
    """Fresh customers' true churn within the month, with no action and called."""
    helped: npt.NDArray[np.bool_]
    plan: BundlePlan


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    """Trained on the experiment's log alone (the churn model on its no-action rows), judged
    on fresh customers of the same population."""
    folder = tmp_path_factory.mktemp("experiment")
    backfire = backfire_share()
    log, _ = generate_experiment(EXPERIMENT_ROWS, seed=1, backfire=backfire)
    log.write_parquet(folder / "log.parquet")
    config = write_policy_config(folder, EXPERIMENT_ITERATIONS)
    options = TrainOptions(
        policy_settings=load_policy_config(config),
        policy_config=config,
        campaigns=folder / "log.parquet",
        threads=2,
    )
    train(folder / "log.parquet", folder / "models", options)
    fresh, truth = generate_experiment(FRESH_ROWS, seed=2, backfire=backfire)
    customers = fresh.drop(LOG_COLUMNS)
    return Experiment(truth, helped(customers), bundle_plan(folder / "models", customers))


def test_in_the_experiment_calling_everyone_and_no_one_churn_alike(
    experiment: Experiment,
) -> None:
    everyone = np.ones(FRESH_ROWS, dtype=np.int64)
    difference, standard_error = paired_difference(
        experiment.truth, everyone, np.zeros_like(everyone)
    )
    assert abs(difference) < 3 * standard_error, (difference, standard_error)


def test_the_plan_calls_those_the_call_helps_and_spares_those_it_hurts(
    experiment: Experiment,
) -> None:
    """Most of them: the learned effects are estimates (measured: 99% of the helped called,
    6% of the others)."""
    called = experiment.plan.actions == 1
    assert np.mean(called[experiment.helped]) > 0.9
    assert np.mean(called[~experiment.helped]) < 0.15


@pytest.mark.parametrize("other", ["no one", "everyone", "the riskiest"])
def test_the_plan_churns_less_than_calling_by_more_than_three_standard_errors(
    experiment: Experiment, other: str
) -> None:
    """Valued under the truth; "the riskiest": as many customers as the plan calls, by churn
    score. Measured: the plan's month churns 22.2% (the truth's best 22.2%), against 26.8% for
    no one, 26.9% for everyone and 27.3% for the riskiest, 17 to 22 standard errors apart."""
    plan = experiment.plan.actions
    others = {
        "no one": np.zeros_like(plan),
        "everyone": np.ones_like(plan),
        "the riskiest": treat_the_riskiest(
            experiment.plan.churn_probability, int(np.sum(plan == 1)), 1
        ),
    }
    difference, standard_error = paired_difference(experiment.truth, plan, others[other])
    assert difference > 3 * standard_error, (difference, standard_error)

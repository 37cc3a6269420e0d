"""The issue's targets on synthetic campaign logs with known effects (50,000 logged rows).

The effects are learned by `train --campaigns` from one log and judged on customers of a fresh
log (another seed) against their true churn under every action: per-customer effects against
the true ones (Spearman). The average effects' 95% intervals are checked for coverage of the
true average over several logs. The value of the recommended plan under the true effects is
tested against "treat the riskiest" and every single action; against the one-step oracle it is
measured by the benchmark (`nox -s bench -- effects`), which uses `fresh_customers` below.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from aura_sentinel.bundle import effect_learner, load_bundle
from aura_sentinel.churn import predict_probability
from aura_sentinel.demo import generate_customers
from aura_sentinel.demo_campaigns import baseline_churn_probability, generate_campaign_log
from aura_sentinel.effects.inference import aipw_scores, average_effects, tried_actions
from aura_sentinel.effects.learn import stratified_folds
from aura_sentinel.effects.learners import LearningData, cross_fit
from aura_sentinel.effects.models import EffectModel
from aura_sentinel.effects.planning import (
    action_costs,
    action_values,
    best_actions,
    kept_value,
    treat_the_riskiest,
)
from aura_sentinel.effects.propensity import estimate_propensities
from aura_sentinel.features import fit_feature_spec
from aura_sentinel.retention.config import PolicySettings, simulator_for
from aura_sentinel.retention.state import build_state
from aura_sentinel.training import TrainOptions, train

LOG_ROWS = 50_000
FRESH_ROWS = 20_000
LOG_COLUMNS = ("action", "propensity", "Churn")


def _settings() -> PolicySettings:
    base = PolicySettings()
    return replace(base, simulator=replace(base.simulator, campaign_horizon_months=1.0))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("effects")
    log, _ = generate_campaign_log(LOG_ROWS, seed=1)
    log.write_parquet(folder / "log.parquet")
    generate_customers(7_043, seed=3).write_parquet(folder / "customers.parquet")
    options = TrainOptions(
        policy=False,
        policy_settings=_settings(),
        campaigns=folder / "log.parquet",
        threads=2,
    )
    train(folder / "customers.parquet", folder / "models", options)
    return folder / "models"


@pytest.fixture(scope="module")
def fresh(models: Path) -> dict[str, np.ndarray]:
    return fresh_customers(models)


def fresh_customers(models: Path) -> dict[str, np.ndarray]:
    """A fresh log's customers: the plan's estimates and the truth, side by side."""
    log, truth = generate_campaign_log(FRESH_ROWS, seed=2)
    customers = log.drop(LOG_COLUMNS)
    bundle = load_bundle(models)
    manifest = bundle.manifest
    assert manifest.effects is not None
    learner = effect_learner(bundle)
    assert learner is not None
    settings = _settings()
    spec = manifest.features
    probability = predict_probability(
        bundle.booster, spec.matrix(customers, "fresh"), spec.xgboost_types
    )
    prior = settings.simulator.response_prior
    state = build_state(customers, probability, prior, manifest.state_sources)
    estimated = EffectModel(manifest.effects, learner).churn_under(customers, state, "fresh")
    simulator = simulator_for(settings)
    costs = action_costs(settings.catalog, state)
    plan = best_actions(
        action_values(estimated, kept_value(simulator, state, 1.0), costs),
        manifest.effects.tried,
    )
    true_risk = baseline_churn_probability(customers)
    true_state = build_state(customers, true_risk, prior, manifest.state_sources)
    true_churn = truth.to_numpy()
    return {
        "estimated": estimated,
        "true_churn": true_churn,
        "true_values": action_values(true_churn, kept_value(simulator, true_state, 1.0), costs),
        "plan": plan,
        "risk": probability.astype(np.float64),
    }


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    ranks = [pl.Series(values).rank("average").to_numpy() for values in (first, second)]
    return float(np.corrcoef(ranks[0], ranks[1])[0, 1])


def test_per_customer_effects_rank_like_the_true_ones(fresh: dict[str, np.ndarray]) -> None:
    """Every action moves churn here (from half a point for an email to two for the call), so
    every action matters."""
    estimated, true_churn = fresh["estimated"], fresh["true_churn"]
    for action in range(1, true_churn.shape[1]):
        correlation = spearman(
            estimated[:, action] - estimated[:, 0], true_churn[:, action] - true_churn[:, 0]
        )
        assert correlation >= 0.6, (action, correlation)


def test_average_effect_intervals_cover_the_truth_over_several_logs() -> None:
    """4 logs x 5 actions = 20 intervals; at 95% coverage, 17 or more cover (P ~ 98.4%)."""
    covered = 0
    intervals = 0
    for seed in (11, 12, 13, 14):
        log, truth = generate_campaign_log(LOG_ROWS, seed=seed)
        features = log.drop(["customerID", *LOG_COLUMNS])
        spec = fit_feature_spec(features, "log")
        matrix = spec.matrix(features, "log")
        names = [name.casefold() for name in PolicySettings().catalog.names]
        actions = np.array([names.index(name.casefold()) for name in log["action"]])
        churned = (log["Churn"] == "Yes").to_numpy().astype(np.float64)
        tried = tried_actions(actions, 6, "log")
        folds = stratified_folds(actions, churned, 5, seed)
        propensities = estimate_propensities(
            matrix, spec.xgboost_types, actions, 6, folds, seed, 2, log["propensity"].to_numpy()
        )
        data = LearningData(matrix, spec.xgboost_types, actions, churned, 6)
        weights = propensities.logged_action
        churn_under = cross_fit("T", data, folds, propensities.all, weights, tried, seed, 2)
        estimates = average_effects(aipw_scores(churned, actions, weights, churn_under), tried)
        true_churn = truth.to_numpy()
        for estimate in estimates:
            true_effect = float(np.mean(true_churn[:, estimate.action] - true_churn[:, 0]))
            covered += estimate.low <= true_effect <= estimate.high
            intervals += 1
    assert intervals == 20
    assert covered >= 17, covered


def test_the_plan_beats_treat_the_riskiest_and_every_single_action(
    fresh: dict[str, np.ndarray],
) -> None:
    """Valued under the true effects, the recommended one-month gain is above every single
    action for everyone and above "treat the riskiest" (as many customers as the plan treats,
    with the best single action). The other half of the issue's target, >= 0.8 of the one-step
    oracle, is measured by `nox -s bench -- effects` (not reached at 50,000 rows)."""
    values, plan = fresh["true_values"], fresh["plan"]
    rows = np.arange(plan.size)

    def gain(policy: np.ndarray) -> float:
        return float(np.mean(values[rows, policy] - values[:, 0]))

    singles = {action: gain(np.full(plan.size, action)) for action in range(1, values.shape[1])}
    best = max(singles, key=lambda action: singles[action])
    riskiest = gain(treat_the_riskiest(fresh["risk"], int(np.sum(plan != 0)), best))
    assert gain(plan) > max(*singles.values(), riskiest), (gain(plan), singles, riskiest)

"""`score` on a bundle trained with a campaign log: the plan rests on the learned effects, says
so (EffectSource, the summary), gives each customer's churn if the recommended action is taken
(ChurnIfActed), never recommends nor buys an action the log did not try, and copies the logged
action beside the outcome.

One small bundle is trained per module on a demo log from which most rows of one action are
removed, so that action is "not tried"; one assumed-effects bundle is trained on demo customers.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from aura_sentinel.budget import allocate
from aura_sentinel.demo import generate_customers
from aura_sentinel.demo_campaigns import generate_campaign_log
from aura_sentinel.effects.calibration import hazard_effects
from aura_sentinel.errors import DataError
from aura_sentinel.pipeline import (
    ScoreSettings,
    ScoringModel,
    assess,
    decide,
    score_file,
    score_frame,
)
from aura_sentinel.render import score_summary
from aura_sentinel.report.content import build_report
from aura_sentinel.report.settings import ASSUMED_EFFECTS
from aura_sentinel.results import RESULT_COLUMNS, check_results, result_rules
from aura_sentinel.retention.config import load_policy_config
from aura_sentinel.retention.simulator import Simulator, SimulatorSettings
from aura_sentinel.retention.state import (
    CHURN_PROBABILITY,
    DAYS_SINCE_CONTACT,
    LEARNED_EFFECTS,
    RECENT_INTERVENTIONS,
    STATE_COLUMNS,
)
from aura_sentinel.training import TrainOptions, train

LOG_ROWS = 6_000
UNTRIED = "Send SMS"  # the action the DQN recommends most when the log tries it
UNTRIED_ID = 2
POLICY_CONFIG = """\
[simulator]
campaign_horizon_months = 1
churn_horizon_months = 1

[dqn]
iterations = 600
"""
SETTINGS = ScoreSettings(threads=2)
INFINITE_CELL = re.compile(r"(^|[,:\[ ])-?(inf|Infinity|NaN|nan)([,}\]\n]|$)", re.MULTILINE)
"""An infinite or NaN number in a CSV or JSON results file."""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log (most rows of one action removed) and the policy config."""
    folder = tmp_path_factory.mktemp("learned")
    log, _ = generate_campaign_log(LOG_ROWS, seed=3)
    untried = pl.col("action") == UNTRIED
    log = pl.concat([log.filter(~untried), log.filter(untried).head(100)])
    log.write_csv(folder / "log.csv")
    (folder / "policy.toml").write_text(POLICY_CONFIG)
    return folder


def _options(folder: Path, campaigns: Path | None) -> TrainOptions:
    config = folder / "policy.toml"
    return TrainOptions(
        policy_settings=load_policy_config(config),
        policy_config=config,
        campaigns=campaigns,
        threads=2,
    )


@pytest.fixture(scope="module")
def learned(folder: Path) -> Path:
    """A bundle whose policy plans on the effects learned from the log, the log itself."""
    log = folder / "log.csv"
    train(log, folder / "learned", _options(folder, log))
    return folder / "learned"


@pytest.fixture(scope="module")
def assumed(folder: Path) -> Path:
    """A bundle on assumed effects, trained on demo customers in the log's schema."""
    customers = folder / "customers.csv"
    generate_customers(1_500, seed=5).write_csv(customers)
    train(customers, folder / "assumed", _options(folder, None))
    return folder / "assumed"


@pytest.fixture(scope="module")
def model(learned: Path) -> ScoringModel:
    return ScoringModel.load(learned, threads=2)


@pytest.fixture(scope="module")
def log(folder: Path) -> pl.DataFrame:
    return pl.read_csv(folder / "log.csv")


@pytest.fixture(scope="module")
def scored(folder: Path, learned: Path) -> pl.DataFrame:
    """The log scored by the learned bundle, at full precision."""
    out = folder / "scored.parquet"
    score_file(folder / "log.csv", learned, out, SETTINGS)
    return pl.read_parquet(out)


def test_the_log_leaves_one_action_untried(model: ScoringModel) -> None:
    effects = model.effects
    assert effects is not None
    assert effects.action_names[UNTRIED_ID] == UNTRIED
    assert effects.tried == tuple(action != UNTRIED_ID for action in range(6))


def test_results_carry_churn_if_acted_and_learned_effect_source_then_the_logged_action(
    scored: pl.DataFrame, log: pl.DataFrame
) -> None:
    assert scored.columns == [*RESULT_COLUMNS, "Churn", "LoggedAction"]
    assert scored.get_column("EffectSource").unique().to_list() == ["learned"]
    churn = scored.get_column("ChurnIfActed").to_numpy()
    assert np.all((churn >= 0) & (churn <= 1))
    assert scored.get_column("LoggedAction").to_list() == log.get_column("action").to_list()


def test_churn_if_acted_is_the_simulators_churn_of_the_recommended_action_within_the_horizon(
    scored: pl.DataFrame, model: ScoringModel, log: pl.DataFrame
) -> None:
    state = assess(log, model, True, "log").state  # probabilities as `score` computes them
    horizon = model.policy.simulator.campaign_horizon
    within = model.simulator.churn_within(state, horizon)
    actions = scored.get_column("ActionID").to_numpy()
    expected = within[np.arange(log.height), actions]
    np.testing.assert_allclose(scored.get_column("ChurnIfActed").to_numpy(), expected, rtol=1e-12)
    # Doing nothing over the churn model's own horizon (here both one month): its probability.
    idle = actions == 0
    assert idle.any()
    np.testing.assert_allclose(
        scored.get_column("ChurnIfActed").to_numpy()[idle],
        scored.get_column("ChurnProbability").to_numpy()[idle],
        rtol=1e-6,
    )
    assert np.mean(expected[~idle] < within[~idle, 0]) > 0.9  # the actions chosen mostly help


def test_churn_within_the_horizon_reproduces_the_learned_churn_at_fresh_states(
    model: ScoringModel, log: pl.DataFrame
) -> None:
    assert model.effect_model is not None
    state = assess(log, model, False, "log").state
    # The log has no contact columns: every customer is fresh (no recent contact, months since
    # the last one at the top bucket).
    assert np.all(state[:, RECENT_INTERVENTIONS] == 0)
    assert np.all(model.simulator.grid_index(state) == model.simulator.months_buckets - 1)
    nine = state[:, : len(STATE_COLUMNS)]
    churn = model.effect_model.churn_under(log, nine, "log")
    horizon = model.policy.simulator.campaign_horizon
    # The simulator reads its hazard from the state's churn probability: give it the log's.
    at_log_risk = state.astype(np.float64)
    at_log_risk[:, CHURN_PROBABILITY] = churn[:, 0]
    within = model.simulator.churn_within(at_log_risk, horizon)
    shares, _ = hazard_effects(churn[:, 0], churn, horizon, model.policy.simulator.max_effect)
    unclipped = (shares > -1 + 1e-9) & (shares < model.policy.simulator.max_effect - 1e-9)
    tried = np.asarray(model.effect_model.record.tried)
    compared = unclipped & tried[None, :]
    assert compared[:, tried].mean() > 0.5  # noisy small logs: many shares reach a bound
    np.testing.assert_allclose(within[compared], churn[compared], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(
        state[:, LEARNED_EFFECTS:], shares[:, 1:].astype(np.float32)
    )  # the state the policy reads carries these shares


def test_churn_within_under_a_month_is_the_first_months_survival_at_that_power() -> None:
    simulator = Simulator(SimulatorSettings(churn_horizon_months=12.0))
    state = np.zeros((3, len(STATE_COLUMNS)), dtype=np.float32)
    state[:, CHURN_PROBABILITY] = [0.1, 0.5, 0.9]
    state[:, DAYS_SINCE_CONTACT] = 90
    first, _ = simulator.current(state)
    np.testing.assert_allclose(simulator.churn_within(state, 0.5), 1 - first**0.5)
    np.testing.assert_allclose(simulator.churn_within(state, 1.0), 1 - first)
    # No action for the whole churn horizon: the churn probability itself.
    np.testing.assert_allclose(simulator.churn_within(state, 12.0)[:, 0], [0.1, 0.5, 0.9])


def test_actions_the_log_did_not_try_are_never_recommended(
    scored: pl.DataFrame, model: ScoringModel, log: pl.DataFrame
) -> None:
    assert UNTRIED_ID not in scored.get_column("ActionID").to_list()
    decisions = decide(assess(log, model, False, "log"), model)
    assert np.all(decisions.gain[:, UNTRIED_ID] == -np.inf)
    assert np.all(decisions.value[:, UNTRIED_ID] == -np.inf)
    tried = np.delete(np.arange(decisions.gain.shape[1]), UNTRIED_ID)
    assert np.all(np.isfinite(decisions.gain[:, tried]))


def test_a_budget_plan_never_buys_an_action_the_log_did_not_try(
    folder: Path, learned: Path, scored: pl.DataFrame
) -> None:
    unconstrained = float(scored.get_column("ActionCost").sum())
    for share in (0.3, 1.0, 100.0):
        out = folder / f"budget-{share}.csv"
        budget = share * unconstrained
        summary = score_file(folder / "log.csv", learned, out, SETTINGS, budget=budget)
        planned = pl.read_csv(out)
        assert UNTRIED_ID not in planned.get_column("ActionID").to_list()
        assert summary.action_costs.sum() <= budget + 1e-6
        assert np.all(np.isfinite(summary.action_gains))
        assert np.isfinite(summary.unconstrained_gain)
        assert not INFINITE_CELL.search(out.read_text())
        record = json.loads(out.with_name(out.name + ".json").read_text())
        assert np.isfinite(record["unconstrained_gain"])
    assert summary.action_counts[1:].sum() > 0  # a large budget does buy actions


def test_allocate_never_picks_a_masked_action_even_when_it_is_cheap() -> None:
    gain = np.array([[0.0, 1.0, -np.inf], [0.0, 2.0, -np.inf]])
    cost = np.array([[0.0, 5.0, 0.5], [0.0, 5.0, 0.5]])
    for budget in (0.0, 1.0, 6.0, 1e9):
        assert 2 not in allocate(gain, cost, budget).tolist()


def test_no_infinity_reaches_text_results_or_the_summary(folder: Path, learned: Path) -> None:
    for suffix in (".csv", ".json"):
        out = folder / f"plan{suffix}"
        summary = score_file(folder / "log.csv", learned, out, SETTINGS)
        assert not INFINITE_CELL.search(out.read_text())
    console = Console(record=True, width=200, file=io.StringIO())
    score_summary(console, summary)
    shown = console.export_text()
    assert "inf" not in shown.lower()
    assert model_sentence(learned) in " ".join(shown.split())


def model_sentence(models: Path) -> str:
    effects = ScoringModel.load(models).effects
    assert effects is not None
    return effects.planned_on()


def test_the_summary_says_the_plan_rests_on_assumed_effects(folder: Path, assumed: Path) -> None:
    out = folder / "assumed.csv"
    summary = score_file(folder / "log.csv", assumed, out, SETTINGS)
    console = Console(record=True, width=200, file=io.StringIO())
    score_summary(console, summary)
    assert ASSUMED_EFFECTS in " ".join(console.export_text().split())


def test_assumed_bundles_write_effect_source_assumed_and_no_logged_action(
    folder: Path, assumed: Path, log: pl.DataFrame
) -> None:
    out = folder / "assumed.parquet"
    score_file(folder / "log.csv", assumed, out, SETTINGS)
    results = pl.read_parquet(out)
    assert results.columns == [*RESULT_COLUMNS, "Churn"]
    assert results.get_column("EffectSource").unique().to_list() == ["assumed"]
    model = ScoringModel.load(assumed)
    state = assess(log, model, True, "log").state
    within = model.simulator.churn_within(state, model.policy.simulator.campaign_horizon)
    actions = results.get_column("ActionID").to_numpy()
    np.testing.assert_allclose(
        results.get_column("ChurnIfActed").to_numpy(), within[np.arange(log.height), actions]
    )


def test_the_same_input_gives_the_same_bytes(folder: Path, learned: Path) -> None:
    outputs = [folder / "same-1.csv", folder / "same-2.csv"]
    for out in outputs:
        score_file(folder / "log.csv", learned, out, SETTINGS, batch_rows=2_500)
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    rows = pl.read_csv(outputs[0])
    assert rows.get_column("ChurnIfActed").cast(pl.String).str.len_chars().max() <= 6  # 0.xxxx


def test_scoring_reads_the_effects_from_the_churn_models_matrix_when_the_features_agree(
    model: ScoringModel, log: pl.DataFrame
) -> None:
    """The log is the training table, so both models read the same features: `assess` builds
    the matrix once, and the learned state is the one built from the effects' own matrix."""
    effects = model.effect_model
    assert effects is not None
    assert effects.record.features == model.bundle.spec
    batch = log.head(500)
    assessed = assess(batch, model, False, "in.csv").state
    nine = np.ascontiguousarray(assessed[:, :LEARNED_EFFECTS])
    own, _ = effects.learned_state(batch, nine, model.policy.simulator, "in.csv")
    np.testing.assert_array_equal(assessed, own)


def test_a_file_missing_an_effect_model_feature_is_refused_naming_it(
    model: ScoringModel, log: pl.DataFrame
) -> None:
    assert model.effect_model is not None
    assert "PaymentMethod" in model.effect_model.record.features.names
    without = log.drop("PaymentMethod")
    with pytest.raises(DataError, match="PaymentMethod"):
        assess(without, model, False, "in.csv")
    nine = np.zeros((log.height, len(STATE_COLUMNS)), dtype=np.float32)
    with pytest.raises(DataError, match=r"in\.csv: missing columns the model needs: PaymentMethod"):
        model.effect_model.churn_under(without, nine, "in.csv")


def test_the_report_reads_results_with_and_without_the_new_columns(
    folder: Path, learned: Path, scored: pl.DataFrame
) -> None:
    current = folder / "current.csv"
    scored.write_csv(current)
    older = folder / "older.csv"
    scored.drop("ChurnIfActed", "EffectSource", "LoggedAction").write_csv(older)
    for results in (current, older):
        assert build_report(results, learned).customers == scored.height


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("ChurnIfActed", 1.5, "a number from 0 to 1"),
        ("ChurnIfActed", float("inf"), "a number from 0 to 1"),
        ("EffectSource", "guessed", "one of learned, assumed"),
    ],
)
def test_the_new_columns_have_rules(column: str, value: object, rule: str) -> None:
    frame = pl.DataFrame({column: [value]})
    with pytest.raises(DataError, match=f"column {column}, row 1: .* is not {rule}"):
        check_results(frame, result_rules(("No action",)), "r.csv", "row {}", "fix")


def test_the_logged_action_is_read_from_the_column_the_log_named(
    model: ScoringModel, log: pl.DataFrame
) -> None:
    """A log trained with `--action-column treatment` is copied from `treatment` when scored."""
    effects = model.effects
    assert effects is not None and effects.action_column == "action"
    renamed = replace(
        model,
        effect_model=replace(
            model.effect_model, record=replace(effects, action_column="treatment")
        ),
    )
    batch = log.head(50).rename({"action": "treatment"})
    results, _ = score_frame(batch, renamed, SETTINGS, "log.csv")
    assert results.get_column("LoggedAction").to_list() == batch.get_column("treatment").to_list()
    plain, _ = score_frame(log.head(50).drop("action"), model, SETTINGS, "log.csv")
    assert "LoggedAction" not in plain.columns

"""Showing the learned effects: the report's section "What your campaigns show" and the `train`
summary say where the effects come from, what each action does with its interval, and whether
the recommended plan beats the alternatives off-line, in words that follow the intervals."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from test_report import _section, _text

from aura_sentinel.bundle import load_bundle
from aura_sentinel.demo_campaigns import generate_campaign_log
from aura_sentinel.effects.calibration import EffectClipping
from aura_sentinel.effects.inference import EffectEstimate
from aura_sentinel.effects.offpolicy import Estimate, OffPolicyTable, PolicyValue
from aura_sentinel.effects.propensity import PropensityDiagnostics
from aura_sentinel.effects.record import EffectsRecord, LogFingerprint
from aura_sentinel.effects.shrinkage import Shrinkage
from aura_sentinel.features import FeatureColumn, FeatureSpec
from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.render import train_summary
from aura_sentinel.report import make_report
from aura_sentinel.report.content import ModelCard, PolicyQuality, Report, RiskView
from aura_sentinel.report.effects import (
    CONFOUNDING,
    NO_EFFECT,
    NOT_TRIED,
    average_effect_rows,
    comparison_label,
    comparison_sentences,
    effect_reading,
    effect_sentences,
    effects_view,
    off_policy_tables,
    paired_differences,
    policy_label,
    remaining_assumptions,
    segment_effect_rows,
    source_sentences,
    summary_effect_rows,
    verdict,
)
from aura_sentinel.report.realised import (
    FOLLOWED,
    LOGGED_ACTION,
    NOT_FOLLOWED,
    action_ids,
    realised_result,
)
from aura_sentinel.report.sections import Section, TableView, report_sections
from aura_sentinel.report.settings import ASSUMED_EFFECTS
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.retention.evaluation import POLICY_LABELS, PolicyEvaluation
from aura_sentinel.training import TrainOptions, TrainSummary, train

NAMES = ("Nothing", "Email", "Call")
"""Call has too few logged rows: not tried."""
CERTIFIED = {
    "optimal": 11.2,
    "dqn": 11.0,
    "best_single_action": 10.6,
    "treat_the_riskiest": 10.5,
    "risk_rule": 10.2,
    "myopic": 10.8,
    "always_email": 10.6,
    "no_action": 10.0,
}
"""Every policy the certification values (POLICY_LABELS), per customer under the simulator."""
BETTER_VALUE = Estimate(2.0, 0.5, 3.5)
LOWER_CHURN = Estimate(-0.03, -0.05, -0.01)


def _estimate(action: int, segment: str, effect: float, low: float, high: float) -> EffectEstimate:
    return EffectEstimate(
        action=action,
        segment=segment,
        rows=400,
        churn_no_action=0.25,
        churn_with_action=0.25 + effect,
        effect=effect,
        low=low,
        high=high,
    )


def _policy(name: str, churn: float, value: float, treated: float) -> PolicyValue:
    def estimates(point: float, half: float) -> dict[str, Estimate]:
        dr = Estimate(point, point - half, point + half)
        return {"ips": Estimate(point + half / 4, 0, 0), "snips": dr, "dr": dr}

    return PolicyValue(name, treated, estimates(churn, 0.02), estimates(value, 1.5))


def _record(
    logged: bool = True,
    value_gain: Estimate = BETTER_VALUE,
    churn_gain: Estimate = LOWER_CHURN,
) -> EffectsRecord:
    """A hand-made record: three actions, Call not tried, Email helps on average and in
    month-to-month contracts, not distinguishably in two-year ones."""
    policies = [
        _policy("logged", 0.24, 40.0, 0.45),
        _policy("no_action", 0.25, 41.0, 0.0),
        _policy("always:Email", 0.20, 43.0, 1.0),
        _policy("treat_the_riskiest", 0.22, 42.0, 0.3),
        _policy("recommended", 0.21, 44.0, 0.3),
    ]
    differences = {
        "recommended-always:Email:churn": Estimate(0.01, -0.01, 0.03),
        "recommended-always:Email:value": Estimate(1.0, -0.5, 2.5),
        "recommended-logged:churn": churn_gain,
        "recommended-logged:value": value_gain,
    }
    return EffectsRecord(
        log=LogFingerprint(file="campaigns.csv", rows=1040, sha256="0" * 64),
        horizon_months=3.0,
        action_column="action",
        action_names=NAMES,
        action_rows=(600, 400, 40),
        tried=(True, True, False),
        features=FeatureSpec(columns=(FeatureColumn("tenure", "number"),)),
        propensity=PropensityDiagnostics(
            logged=logged,
            floor=0.01,
            clipped_rows=3,
            effective_sample_size=(580.0, 371.0, 40.0),
            largest_weight=12.5,
            overlap=0.97,
        ),
        learner="X",
        criteria={"T": 0.041, "S": 0.035, "X": 0.062, "DR": 0.058},
        criteria_errors={"T": 0.004, "S": 0.005, "X": 0.003, "DR": 0.006},
        shrinkage=Shrinkage(
            slopes=(0.0, 0.6, 0.0),
            cells=(0,),
            offsets=((0.0, 0.0, 0.0),),
            default_offset=(0.0, 0.0, 0.0),
        ),
        cell_fields=("contract", "tenure"),
        average=(_estimate(1, "all", -0.05, -0.08, -0.02),),
        segments=(
            _estimate(1, "contract: Month-to-month", -0.09, -0.14, -0.04),
            _estimate(1, "contract: Two year", 0.01, -0.03, 0.05),
        ),
        off_policy=OffPolicyTable(policies, differences),
        controllable=(),
        recommended_share=0.3,
        calibration=EffectClipping(rows=1040, above_max=(0, 0, 0), below_min=(0, 0, 0)),
    )


def _report(record: EffectsRecord | None, unit: str = "EUR") -> Report:
    """A report of three scored customers, with a policy on the catalog NAMES."""
    card = ModelCard(
        training_file="training.csv",
        training_rows=100,
        training_churn_rate=0.25,
        training_sha256="0" * 64,
        metrics={},
        folds=3,
        trees=10,
        depth=3,
        libraries={},
        artifacts={},
        features_used=["tenure"],
        features_dropped=[],
        cv_curves=None,
        leaks=(),
        sensitive=(),
    )
    evaluation = PolicyEvaluation(
        customers=50,
        values=dict(CERTIFIED),
        gain_ratio=0.83,
        optimal_match=0.9,
        differs_from_myopic=0.1,
        differs_from_no_action=0.5,
    )
    policy = PolicyQuality(
        evaluation=evaluation,
        catalog=[("Nothing", 0.0, 0.0), ("Email", 0.01, 0.04), ("Call", 0.05, 0.1)],
        simulator={},
    )
    return Report(
        results=Path("results.csv"),
        models=Path("models"),
        customers=3,
        mean_probability=0.3,
        card=card,
        risk=RiskView({"HIGH": 1, "MEDIUM": 1, "LOW": 1}, None, {}, None, []),
        global_drivers=[],
        high_risk_drivers=[],
        high_risk_customers=1,
        plan=[],
        budget=None,
        unconstrained=None,
        policy=policy,
        outcomes=None,
        money_unit=unit,
        effects=record,
    )


def _summary_text(record: EffectsRecord | None, policy: bool = False) -> str:
    console = Console(record=True, width=200, color_system=None)
    evaluation = _report(None).policy
    assert evaluation is not None
    summary = TrainSummary(
        data=Path("campaigns.csv"),
        models=Path("models"),
        seconds=1.0,
        churn=None,
        policy=evaluation.evaluation if policy else None,
        money_unit="EUR",
        effects=record,
    )
    train_summary(console, summary)
    return console.export_text()


def test_an_action_not_tried_is_named_as_never_recommended() -> None:
    record = _record()
    sentences = source_sentences(record, NAMES)
    assert any(sentence.startswith(f"Call: {NOT_TRIED}") for sentence in sentences)
    assert not any(sentence.startswith(f"Email: {NOT_TRIED}") for sentence in sentences)
    rows = {row[0]: row for row in average_effect_rows(record, NAMES)}
    assert rows["Call"][-1] == NOT_TRIED and rows["Call"][1] == "40"
    assert rows["Email"][-1] != NOT_TRIED
    assert "Nothing" not in rows  # no action is the baseline, not an action with an effect


def test_the_confounding_warning_appears_only_when_propensities_are_estimated() -> None:
    assert CONFOUNDING in source_sentences(_record(logged=False), NAMES)
    assert CONFOUNDING not in source_sentences(_record(logged=True), NAMES)
    assert "no unmeasured confounding" in CONFOUNDING


def test_the_source_names_the_log_horizon_learner_and_weights() -> None:
    text = " ".join(source_sentences(_record(), NAMES))
    assert "campaigns.csv" in text and "1,040 rows" in text and "3 months" in text
    assert "X-learner" in text and "T 0.041" in text and "DR 0.058" in text
    assert "Email 371" in text and "Call 40" not in text  # ESS of the tried actions only
    assert "largest weight 12.5" in text and "overlap 97.0%" in text
    one_month = dataclasses.replace(_record(), horizon_months=1.0)
    assert "within 1 month of" in " ".join(source_sentences(one_month, NAMES))


def test_an_interval_containing_zero_reads_not_distinguishable() -> None:
    assert effect_reading(_estimate(1, "all", 0.01, -0.03, 0.05)) == NO_EFFECT
    assert effect_reading(_estimate(1, "all", -0.05, -0.08, -0.02)) == "keeps customers"
    assert effect_reading(_estimate(1, "all", 0.05, 0.02, 0.08)) == "drives customers away"
    rows = {row[0]: row for row in segment_effect_rows(_record(), NAMES)}
    assert rows["contract: Two year"][-1] == NO_EFFECT
    assert rows["contract: Month-to-month"][-1] == "keeps customers"
    assert rows["contract: Month-to-month"][1:3] == ["Email", "400"]


def test_each_tried_action_gets_a_sentence_with_its_reading() -> None:
    sentences = effect_sentences(_record(), NAMES)
    assert sentences == [
        "Email: churn 20.0% with it against 25.0% without, an effect of -5.0 points "
        "[-8.0, -2.0]: keeps customers."
    ]


def test_the_chosen_learner_is_marked_among_the_criteria_with_their_errors() -> None:
    learners = effects_view(_record(), "EUR").tables[-1]
    assert [row[0] for row in learners.rows] == [
        "T-learner",
        "S-learner",
        "X-learner",
        "DR-learner",
    ]
    assert [row[2] for row in learners.rows] == ["0.0040", "0.0050", "0.0030", "0.0060"]
    assert [row[3] for row in learners.rows] == ["", "", "chosen", ""]


def test_effects_are_shown_in_percentage_points_with_their_interval() -> None:
    email = next(row for row in average_effect_rows(_record(), NAMES) if row[0] == "Email")
    assert email[3:7] == ["25.0%", "20.0%", "-5.0", "[-8.0, -2.0]"]


def test_the_summary_table_carries_the_same_effects_in_fewer_columns() -> None:
    rows = {row[0]: row for row in summary_effect_rows(_record(), NAMES)}
    assert rows["Email"][1:] == ["400", "25.0% -> 20.0%", "-5.0 [-8.0, -2.0]", "keeps customers"]
    assert rows["Call"][1:] == ["40", "-", "-", NOT_TRIED]


def test_the_paired_difference_verdict_goes_both_ways() -> None:
    better = BETTER_VALUE
    worse = Estimate(-2.0, -3.5, -0.5)
    unsure = Estimate(1.0, -0.5, 2.5)
    assert verdict(better, "value") == "better beyond its interval"
    assert verdict(worse, "value") == "worse beyond its interval"
    assert verdict(unsure, "value").startswith("not distinguishable")
    assert verdict(Estimate(-0.03, -0.05, -0.01), "churn") == "better beyond its interval"
    assert verdict(Estimate(0.03, 0.01, 0.05), "churn") == "worse beyond its interval"
    beats = comparison_sentences(_record(value_gain=better), "EUR")
    loses = comparison_sentences(_record(value_gain=worse), "EUR")
    logged = "Recommended plan minus what was done"
    assert "value +2.00 EUR per customer [+0.50, +3.50] (better beyond its interval)" in next(
        sentence for sentence in beats if sentence.startswith(logged)
    )
    assert "(worse beyond its interval)" in next(
        sentence for sentence in loses if sentence.startswith(logged)
    )
    best = "Recommended plan minus the best single action (Email for everyone)"
    single = next(sentence for sentence in beats if sentence.startswith(best))
    assert single.count("not distinguishable") == 2


def test_the_plan_is_set_against_what_was_done_in_words() -> None:
    headline = comparison_sentences(_record(), "EUR")[0]
    assert headline.startswith("Had we followed the recommended plan on the logged customers")
    assert "21.0% [19.0%, 23.0%] instead of 24.0%" in headline
    assert "44.00 EUR" in headline and "instead of 40.00 EUR" in headline


def test_paired_differences_are_read_from_the_record_keys() -> None:
    found = {(other, metric) for other, metric, _ in paired_differences(_record())}
    assert found == {
        ("always:Email", "churn"),
        ("always:Email", "value"),
        ("logged", "churn"),
        ("logged", "value"),
    }


def test_policies_are_named_in_words() -> None:
    assert policy_label("always:Email") == "Email for everyone"
    assert policy_label("logged") == "what was done (observed)"
    assert "riskiest" in policy_label("treat_the_riskiest")
    assert comparison_label("always:Email") == "the best single action (Email for everyone)"
    assert comparison_label("logged") == policy_label("logged")
    assert "_" not in policy_label("no_action") + policy_label("recommended")


def test_money_values_carry_the_unit() -> None:
    tables = off_policy_tables(_record(), NAMES, "EUR")
    assert "value per customer (EUR)" in tables[0].headers
    assert "value IPS (EUR)" in tables[1].headers and "value SNIPS (EUR)" in tables[1].headers
    assert {row[1] for row in tables[2].rows} == {"churn (points)", "value (EUR)"}
    bare = off_policy_tables(_record(), NAMES, "")
    assert "value per customer" in bare[0].headers
    assert not any("()" in header for table in bare for header in table.headers)


def test_the_off_policy_table_has_every_policy_with_dr_intervals() -> None:
    doubly_robust, check, _ = off_policy_tables(_record(), NAMES, "EUR")
    assert doubly_robust.rows[0][0] == "what was done (observed)"
    recommended = doubly_robust.rows[-1]
    assert recommended[1:] == ["30.0%", "21.0%", "[19.0%, 23.0%]", "44.00", "[42.50, 45.50]"]
    assert check.rows[-1][1:3] == ["21.5%", "21.0%"]  # IPS and SNIPS shown beside


def test_fatigue_recency_and_backlash_are_said_to_stay_assumed() -> None:
    assert "remain stated assumptions" in remaining_assumptions(_record())
    carried = dataclasses.replace(_record(), controllable=("recent_interventions",))
    assert "carries recent_interventions" in remaining_assumptions(carried)


def test_the_report_section_comes_after_the_policy_section() -> None:
    sections = report_sections(_report(_record()))
    keys = [section.key for section in sections]
    assert keys.index("policy") + 1 == keys.index("effects") < keys.index("model")
    effects = _section(sections, "effects")
    assert effects.title == "What your campaigns show"
    assert effects.lead == effects_view(_record(), "EUR").lead
    text = _text(effects)
    assert f"Call: {NOT_TRIED}" in text and "Email for everyone" in text
    assert "value per customer (EUR)" in text


def test_without_effects_the_report_has_no_section_and_says_effects_are_assumed() -> None:
    sections = report_sections(_report(None))
    assert "effects" not in [section.key for section in sections]
    assert ASSUMED_EFFECTS in _section(sections, "answer").lead
    assert any(ASSUMED_EFFECTS in sentence for sentence in _section(sections, "policy").lead)


def test_with_effects_the_policy_section_says_the_plan_rests_on_the_learned_ones() -> None:
    record = _record()
    sections = report_sections(_report(record))
    policy = _section(sections, "policy")
    assert any(record.planned_on() in sentence for sentence in policy.lead)
    assert not any(ASSUMED_EFFECTS in sentence for sentence in policy.lead)
    said = record.planned_on()
    assert "campaigns.csv" in said and "1,040 rows" in said and "never recommended: Call" in said
    assert record.planned_on() in _section(sections, "answer").lead


@pytest.mark.parametrize("logged", [True, False])
def test_the_train_summary_prints_the_effects_block(logged: bool) -> None:
    text = _summary_text(_record(logged=logged))
    assert "Action effects against no action" in text
    assert f"Call: {NOT_TRIED}" in text
    assert ("warning: the propensities were estimated" in text) is not logged
    assert "Had we followed the recommended plan" in text
    assert "(better beyond its interval)" in text
    assert "EUR per customer" in text


def test_the_train_summary_says_which_effects_the_dqn_plans_on() -> None:
    assert ASSUMED_EFFECTS in _summary_text(None, policy=True)
    learned = _summary_text(_record(), policy=True)
    assert "plans on the effects learned from the campaign log campaigns.csv" in learned
    assert ASSUMED_EFFECTS not in learned
    assert "Action effects against no action" not in _summary_text(None, policy=True)


def test_the_campaign_horizon_reads_in_months_or_as_the_churn_horizon() -> None:
    from aura_sentinel.report.settings import simulator_settings
    from aura_sentinel.retention.simulator import SimulatorSettings

    def shown(**changes: float) -> dict[str, str]:
        settings = dataclasses.asdict(SimulatorSettings(**changes))  # type: ignore[arg-type]
        return {label: value for label, value in simulator_settings(settings)}

    one_month = shown(campaign_horizon_months=1.0)
    assert "1 month" in one_month.values() and "12 months" in one_month.values()
    assert "the churn horizon" in shown().values()


# ---- the policy section of a plan on learned effects -------------------------------------

SIDE_BY_SIDE = "Each policy under the calibrated simulator and on the campaign log"
REALISED = "Realised churn"


def _table_of(section: Section, caption: str) -> TableView:
    return next(table for table in section.tables if table.caption.startswith(caption))


def _rows_by_label(table: TableView) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table.rows}


def test_the_side_by_side_table_pairs_the_same_policy_on_both_sides() -> None:
    policy = _section(report_sections(_report(_record())), "policy")
    rows = _rows_by_label(_table_of(policy, SIDE_BY_SIDE))
    assert set(POLICY_LABELS.values()) <= set(rows)  # every certified policy, both new baselines
    dqn = rows[POLICY_LABELS["dqn"]]
    assert dqn[:2] == ["+1.00", "11.00"]
    assert dqn[2:] == [policy_label("recommended"), "21.0% [19.0%, 23.0%]", "44.00 [42.50, 45.50]"]
    assert rows[POLICY_LABELS["no_action"]][:3] == ["+0.00", "10.00", policy_label("no_action")]
    riskiest = rows[POLICY_LABELS["treat_the_riskiest"]]
    assert riskiest[2:] == [
        policy_label("treat_the_riskiest"),
        "22.0% [20.0%, 24.0%]",
        "42.00 [40.50, 43.50]",
    ]
    # the best single action on the log is the one the record pairs the plan with (Email);
    # "always email" is the cheapest tried contact: Email too (Call is dearer and not tried)
    assert rows[POLICY_LABELS["best_single_action"]][2] == "Email for everyone"
    assert rows[POLICY_LABELS["always_email"]][2] == "Email for everyone"
    for blank in ("optimal", "myopic", "risk_rule"):  # the hand-made log has no risk rule
        assert rows[POLICY_LABELS[blank]][2:] == ["", "", ""], blank
    assert rows["what was done (observed)"][:2] == ["", ""]  # evaluated on the log only
    assert rows["what was done (observed)"][3] == "24.0% [22.0%, 26.0%]"


def test_the_side_by_side_reading_says_what_each_column_measures_and_not_to_subtract() -> None:
    lead = " ".join(_section(report_sections(_report(_record())), "policy").lead)
    assert "never subtracted" in lead
    assert "over the customer's lifetime under the simulator calibrated" in lead
    assert "on the 50 held-out customers" in lead
    assert "within 3 months of the action" in lead and "95% interval" in lead
    headers = _table_of(_section(report_sections(_report(_record())), "policy"), SIDE_BY_SIDE)
    assert "simulator: profit per customer (EUR)" in headers.headers
    assert "campaign log: value per customer [95%] (EUR)" in headers.headers


def test_without_effects_the_policy_table_is_the_simulators_alone() -> None:
    policy = _section(report_sections(_report(None)), "policy")
    assert not any(table.caption.startswith(SIDE_BY_SIDE) for table in policy.tables)
    assert policy.tables[0].caption == "Expected profit per customer, by policy"
    assert len(policy.tables[0].rows) == len(CERTIFIED)
    assert _table_of(policy, "Assumed actions").rows[1][2] == "-4%"


def test_the_actions_table_says_learned_or_not_tried_instead_of_an_assumed_effect() -> None:
    policy = _section(report_sections(_report(_record())), "policy")
    actions = _rows_by_label(_table_of(policy, "Actions"))
    assert actions["Nothing"][1] == "none"
    assert actions["Email"][1] == "learned per customer"
    assert actions["Call"][1] == NOT_TRIED
    assert not any(table.caption == "Assumed actions" for table in policy.tables)


def test_logged_actions_are_read_by_name_in_any_case_or_by_id() -> None:
    logged = pl.Series(LOGGED_ACTION, ["email", "EMAIL", " 2", "0", "1.0", "3", "x", None, ""])
    assert action_ids(logged, NAMES).tolist() == [1, 1, 2, 0, 1, -1, -1, -1, -1]


def test_realised_churn_equals_a_hand_computation() -> None:
    logged = pl.Series(
        LOGGED_ACTION, ["Email", "email", "1", "Nothing", "0", "Call", "bogus", None]
    )
    recommended = pl.Series(
        "RecommendedAction",
        ["Email", "Nothing", "Email", "Nothing", "Email", "Call", "Email", "Email"],
    )
    churned = np.array([1, 0, 0, 1, 0, 1, 1, 0], dtype=np.float32)
    unknown = np.array([False, False, False, False, True, False, False, False])
    realised = realised_result(logged, recommended, churned, unknown, NAMES)
    groups = {group.label: group for group in realised.per_action}
    # Email: rows 0-2 churned 1 of 3; Nothing: row 3 (row 4 has no outcome); Call: row 5
    assert [(label, groups[label].customers, groups[label].churned) for label in NAMES] == [
        ("Nothing", 1, 1),
        ("Email", 3, 1),
        ("Call", 1, 1),
    ]
    # followed: rows 0, 2 (id 1 is Email), 3 and 5 -> 3 churned of 4; not followed: row 1
    assert (realised.followed.label, realised.followed.customers) == (FOLLOWED, 4)
    assert realised.followed.churned == 3 and realised.followed.rate == 0.75
    assert (realised.not_followed.customers, realised.not_followed.churned) == (1, 0)
    assert (realised.unrecognised, realised.unlogged) == (1, 2)
    lead = _section(
        report_sections(dataclasses.replace(_report(None), realised=realised)), "policy"
    )
    assert (
        "(2 without a logged action or an outcome and 1 whose logged action is not in the "
        "catalog left out)" in " ".join(lead.lead)
    )
    # Wilson 95% intervals, as tabulated: 1/3, 3/4, 0/1
    assert (groups["Email"].low, groups["Email"].high) == pytest.approx((0.0615, 0.7923), abs=1e-4)
    assert (realised.followed.low, realised.followed.high) == pytest.approx(
        (0.3006, 0.9544), abs=1e-4
    )
    assert (realised.not_followed.low, realised.not_followed.high) == pytest.approx(
        (0.0, 0.7935), abs=1e-4
    )


def test_the_realised_block_is_said_to_be_observational() -> None:
    logged = pl.Series(LOGGED_ACTION, ["Email", "Nothing", "Email", "Nothing"])
    recommended = pl.Series("RecommendedAction", ["Email", "Email", "Nothing", "Nothing"])
    churned = np.array([0, 1, 1, 0], dtype=np.float32)
    realised = realised_result(logged, recommended, churned, np.zeros(4, dtype=bool), NAMES)
    for logged_propensities in (True, False):
        report = dataclasses.replace(
            _report(_record(logged=logged_propensities)), realised=realised
        )
        policy = _section(report_sections(report), "policy")
        lead = " ".join(policy.lead)
        assert "observational" in lead and "not effects" in lead
        assert ("if the actions were assigned at random" in lead) is logged_propensities
        assert "left out" not in lead  # every customer had an outcome and a catalog action
        table = _rows_by_label(_table_of(policy, "Realised churn when the recommendation"))
        assert table[FOLLOWED] == ["2", "0", "0.0%", "[0.0%, 65.8%]"]
        assert table[NOT_FOLLOWED][:3] == ["2", "2", "100.0%"]
    assert not any(
        table.caption.startswith(REALISED)
        for table in _section(report_sections(_report(_record())), "policy").tables
    )


# ---- end to end: a bundle whose policy was trained on effects learned from a demo log ------


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pl.DataFrame]:
    """(bundle, results of scoring the log without LoggedAction, the log): trained once."""
    folder = tmp_path_factory.mktemp("learned")
    log, _ = generate_campaign_log(6000, seed=3)
    log.write_csv(folder / "log.csv")
    base = PolicySettings()
    settings = dataclasses.replace(
        base,
        simulator=dataclasses.replace(base.simulator, campaign_horizon_months=1.0),
        dqn=dataclasses.replace(base.dqn, iterations=600),
    )
    options = TrainOptions(
        folds=3, currency="EUR", policy_settings=settings, campaigns=folder / "log.csv", threads=2
    )
    train(folder / "log.csv", folder / "models", options)
    scored = folder / "scored.csv"
    score_file(folder / "log.csv", folder / "models", scored, ScoreSettings(explain=False))
    results = folder / "results.csv"
    pl.read_csv(scored).drop(LOGGED_ACTION, strict=False).write_csv(results)
    return folder / "models", results, log


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.references += [value or "" for name, value in attrs if name in ("src", "href")]


def test_a_plan_on_learned_effects_says_so_and_shows_both_valuations(
    learned: tuple[Path, Path, pl.DataFrame],
) -> None:
    models, results, _ = learned
    manifest = load_bundle(models).manifest
    assert manifest.effects is not None and manifest.policy is not None
    html_path = results.with_name("learned.html")
    report, sections = make_report(results, models, html_path)
    assert report.realised is None  # outcomes, but no logged actions
    policy = _section(sections, "policy")
    assert manifest.effects.planned_on() in " ".join(policy.lead)
    rows = _rows_by_label(_table_of(policy, SIDE_BY_SIDE))
    values = manifest.policy.evaluation.values
    for name, label in POLICY_LABELS.items():
        assert rows[label][1] == f"{values[name]:,.2f}", name
    by_name = {item.name: item for item in manifest.effects.off_policy.policies}
    recommended = by_name["recommended"].churn["dr"]
    assert rows[POLICY_LABELS["dqn"]][3].startswith(f"{recommended.estimate:.1%} [")
    assert rows[POLICY_LABELS["risk_rule"]][2] == policy_label("risk_rule")
    assert rows["what was done (observed)"][:2] == ["", ""]
    assert not any(table.caption.startswith(REALISED) for table in policy.tables)
    html = html_path.read_text(encoding="utf-8")
    assert SIDE_BY_SIDE in html and REALISED not in html
    parser = _Tags()
    parser.feed(html)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parser.tags)
    assert all(reference.startswith("data:") for reference in parser.references)


def test_outcomes_and_logged_actions_give_the_realised_result(
    learned: tuple[Path, Path, pl.DataFrame],
) -> None:
    models, results, log = learned
    frame = pl.read_csv(results).with_columns(log.get_column("action").alias(LOGGED_ACTION))
    with_actions = results.with_name("with_actions.csv")
    frame.write_csv(with_actions)
    report, sections = make_report(with_actions, models, results.with_name("realised.html"))
    assert report.realised is not None
    churned = pl.col("Churn") == "Yes"
    expected = frame.group_by(LOGGED_ACTION).agg(pl.len(), churned.sum().alias("churned"))
    counted = {
        group.label: (group.customers, group.churned) for group in report.realised.per_action
    }
    assert counted == {
        str(action): (int(count), int(churners)) for action, count, churners in expected.iter_rows()
    }
    followed = frame.filter(pl.col(LOGGED_ACTION) == pl.col("RecommendedAction"))
    assert report.realised.followed.customers == followed.height
    assert report.realised.followed.churned == followed.select(churned.sum()).item()
    assert report.realised.not_followed.customers == frame.height - followed.height
    policy = _section(sections, "policy")
    table = _table_of(policy, "Realised churn by the action actually given")
    assert sum(int(row[1].replace(",", "")) for row in table.rows) == frame.height
    html = results.with_name("realised.html").read_text(encoding="utf-8")
    assert "Realised churn when the recommendation was followed or not" in html
    assert "if the actions were assigned at random" in html  # the demo log logs propensities

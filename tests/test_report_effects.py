"""Showing the learned effects: the report's section "What your campaigns show" and the `train`
summary say where the effects come from, what each action does with its interval, and whether
the recommended plan beats the alternatives off-line, in words that follow the intervals."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rich.console import Console

from aura_sentinel.effects.calibration import EffectClipping
from aura_sentinel.effects.inference import EffectEstimate
from aura_sentinel.effects.offpolicy import Estimate, OffPolicyTable, PolicyValue
from aura_sentinel.effects.propensity import PropensityDiagnostics
from aura_sentinel.effects.record import EffectsRecord, LogFingerprint
from aura_sentinel.effects.shrinkage import Shrinkage
from aura_sentinel.features import FeatureColumn, FeatureSpec
from aura_sentinel.render import train_summary
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
from aura_sentinel.report.sections import Section, report_sections
from aura_sentinel.report.settings import ASSUMED_EFFECTS, PLANNED_ON_ASSUMED_EFFECTS
from aura_sentinel.retention.evaluation import PolicyEvaluation
from aura_sentinel.training import TrainSummary

NAMES = ("Nothing", "Email", "Call")
"""Call has too few logged rows: not tried."""
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
        values={"no_action": 10.0, "dqn": 11.0, "optimal": 11.2},
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


def _section(sections: list[Section], key: str) -> Section:
    return next(section for section in sections if section.key == key)


def _text(section: Section) -> str:
    parts = [*section.lead]
    for table in section.tables:
        parts += [table.caption, *table.headers, *(cell for row in table.rows for cell in row)]
    return "\n".join(parts)


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


def test_the_chosen_learner_is_marked_among_the_criteria() -> None:
    learners = effects_view(_record(), "EUR").tables[-1]
    assert [row[0] for row in learners.rows] == [
        "T-learner",
        "S-learner",
        "X-learner",
        "DR-learner",
    ]
    assert [row[2] for row in learners.rows] == ["", "", "chosen", ""]


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


def test_with_effects_the_policy_section_says_the_dqn_still_plans_on_assumed_ones() -> None:
    sections = report_sections(_report(_record()))
    policy = _section(sections, "policy")
    assert any(PLANNED_ON_ASSUMED_EFFECTS in sentence for sentence in policy.lead)
    assert not any(ASSUMED_EFFECTS in sentence for sentence in policy.lead)
    assert "evaluated off-line" in PLANNED_ON_ASSUMED_EFFECTS


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
    assert "still plans on the simulator's assumed effects" in learned
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

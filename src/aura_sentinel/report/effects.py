"""What the campaign log showed about each action, in plain words and tables.

Built from the bundle's `EffectsRecord` and the action catalog's names. The report's section
"What your campaigns show" and the `train` summary both word their findings here, so the two
always say the same thing. Effects are churn with the action minus churn without it, shown in
percentage points: negative keeps customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from aura_sentinel.effects.inference import MIN_ACTION_ROWS, EffectEstimate
from aura_sentinel.effects.learners import LEARNERS
from aura_sentinel.effects.offpolicy import Estimate, PolicyValue
from aura_sentinel.effects.record import EffectsRecord
from aura_sentinel.retention.evaluation import POLICY_LABELS
from aura_sentinel.units import with_unit

TITLE = "What your campaigns show"
NOT_TRIED = "not tried: never recommended"
NO_EFFECT = "not distinguishable from no effect"
CONFOUNDING = (
    "Warning: the propensities were estimated from the log's columns, so the effects rest on "
    "no unmeasured confounding: anything that decided who got an action and also affects churn "
    "must be a column of the log, or the effects are biased."
)
EFFECT_HEADERS = [
    "action",
    "rows",
    "effective sample size",
    "churn, no action",
    "churn, with the action",
    "effect (points)",
    "95% interval",
    "reading",
]
SUMMARY_HEADERS = [
    "action",
    "rows",
    "churn: no action -> with it",
    "effect, points [95%]",
    "reading",
]
"""The `train` summary's narrower table of the same effects."""


@dataclass(frozen=True)
class PlainTable:
    """A table before rendering: each renderer draws it in its own medium."""

    caption: str
    headers: list[str]
    rows: list[list[str]]


@dataclass
class EffectsView:
    """The report section's content: lead sentences, then tables."""

    lead: list[str] = field(default_factory=list)
    tables: list[PlainTable] = field(default_factory=list)


def effects_view(record: EffectsRecord, money_unit: str) -> EffectsView:
    """Everything the report says about the learned effects."""
    names = record.action_names
    view = EffectsView()
    view.lead = [
        *source_sentences(record, names),
        *effect_sentences(record, names),
        *comparison_sentences(record, money_unit),
        remaining_assumptions(record),
    ]
    view.tables = [
        PlainTable(
            "Average effect of each action against no action (AIPW, 95% intervals)",
            EFFECT_HEADERS,
            average_effect_rows(record, names),
        )
    ]
    segments = segment_effect_rows(record, names)
    if segments:
        view.tables.append(
            PlainTable(
                "Effects by segment (AIPW, 95% intervals)",
                ["segment", *EFFECT_HEADERS[:2], *EFFECT_HEADERS[3:]],
                segments,
            )
        )
    view.tables += off_policy_tables(record, names, money_unit)
    view.tables.append(
        PlainTable(
            "Learners compared on held-out rows (doubly robust uplift AUC, 1 perfect, 0 random)",
            ["learner", "criterion", "standard error", ""],
            [
                [
                    f"{learner}-learner",
                    f"{record.criteria[learner]:.4f}",
                    f"{record.criteria_errors[learner]:.4f}",
                    _chosen(record, learner),
                ]
                for learner in LEARNERS
                if learner in record.criteria
            ],
        )
    )
    return view


def source_sentences(record: EffectsRecord, names: tuple[str, ...]) -> list[str]:
    """Where the effects come from: the log, the learner, the propensities and their weights,
    and the actions the log holds too few rows of."""
    propensity = record.propensity
    criteria = ", ".join(
        f"{learner} {record.criteria[learner]:.3f}"
        for learner in LEARNERS
        if learner in record.criteria
    )
    sentences = [
        f"Learned from the campaign log {record.log.file}: {record.log.rows:,} rows, each outcome "
        f"being churn within {_months(record.horizon_months)} of the action.",
        f"Learner: the {record.learner}-learner, the simplest within one standard error of the "
        "best by the held-out doubly robust uplift AUC (normalised like the Qini: 1 perfect, "
        f"0 random): {criteria}.",
    ]
    if propensity.logged:
        sentences.append("Propensities: as logged with each action.")
    else:
        sentences += ["Propensities: estimated from the log (cross-fitted).", CONFOUNDING]
    ess = ", ".join(
        f"{names[action]} {size:,.0f}"
        for action, size in enumerate(propensity.effective_sample_size)
        if record.tried[action]
    )
    sentences.append(
        f"Weights: effective sample size {ess}; largest weight {propensity.largest_weight:,.1f}; "
        f"overlap {propensity.overlap:.1%} of rows could have received every tried action "
        f"(propensity at least {propensity.floor:g}); {propensity.clipped_rows:,} rows raised "
        "to that floor."
    )
    sentences += [
        f"{names[action]}: {NOT_TRIED} (only {record.action_rows[action]:,} logged rows, fewer "
        f"than {MIN_ACTION_ROWS}: its effect is not learned, and no assumed effect stands in)."
        for action, tried in enumerate(record.tried)
        if not tried
    ]
    return sentences


def effect_reading(estimate: EffectEstimate) -> str:
    """In words: whether the action keeps customers, drives them away, or shows nothing sure."""
    if estimate.high < 0:
        return "keeps customers"
    if estimate.low > 0:
        return "drives customers away"
    return NO_EFFECT


def effect_sentences(record: EffectsRecord, names: tuple[str, ...]) -> list[str]:
    """One sentence per tried action: its average churn with and without, and the reading."""
    return [
        f"{names[estimate.action]}: churn {estimate.churn_with_action:.1%} with it against "
        f"{estimate.churn_no_action:.1%} without, an effect of {_points(estimate.effect)} points "
        f"{_point_interval(estimate)}: {effect_reading(estimate)}."
        for estimate in record.average
    ]


def average_effect_rows(record: EffectsRecord, names: tuple[str, ...]) -> list[list[str]]:
    """EFFECT_HEADERS rows, one per action but no action; the actions not tried say so."""
    by_action = {estimate.action: estimate for estimate in record.average}
    ess = record.propensity.effective_sample_size
    rows = []
    for action in range(1, len(record.tried)):
        counts = [f"{record.action_rows[action]:,}", f"{ess[action]:,.0f}"]
        estimate = by_action.get(action)
        if estimate is None or not record.tried[action]:
            rows.append([names[action], *counts, "-", "-", "-", "-", NOT_TRIED])
        else:
            rows.append([names[action], *counts, *_effect_cells(estimate)])
    return rows


def summary_effect_rows(record: EffectsRecord, names: tuple[str, ...]) -> list[list[str]]:
    """SUMMARY_HEADERS rows: the average effects for a terminal's width."""
    return [
        [
            row[0],
            row[1],
            "-" if row[3] == "-" else f"{row[3]} -> {row[4]}",
            "-" if row[5] == "-" else f"{row[5]} {row[6]}",
            row[7],
        ]
        for row in average_effect_rows(record, names)
    ]


def segment_effect_rows(record: EffectsRecord, names: tuple[str, ...]) -> list[list[str]]:
    """One row per segment and tried action: segment, action, rows, then the effect cells."""
    return [
        [estimate.segment, names[estimate.action], f"{estimate.rows:,}", *_effect_cells(estimate)]
        for estimate in record.segments
    ]


def policy_label(name: str) -> str:
    """A policy of the off-policy table, in words."""
    if name.startswith("always:"):
        return f"{name.removeprefix('always:')} for everyone"
    labels = {
        "logged": "what was done (observed)",
        "no_action": "no action for anyone",
        "risk_rule": POLICY_LABELS["risk_rule"],
        "treat_the_riskiest": "treat the riskiest (by churn score alone)",
        "recommended": "the recommended plan (learned effects)",
    }
    return labels.get(name, name)


def comparison_label(other: str) -> str:
    """What the recommended plan is compared with: a single action for everyone is the best
    one (the only one the record pairs it with)."""
    if other.startswith("always:"):
        return f"the best single action ({policy_label(other)})"
    return policy_label(other)


def off_policy_tables(
    record: EffectsRecord, names: tuple[str, ...], money_unit: str
) -> list[PlainTable]:
    """The doubly robust estimates with intervals; the IPS and SNIPS check; the paired
    differences."""
    value = with_unit("value per customer", money_unit)
    policies = record.off_policy.policies
    doubly_robust = PlainTable(
        f"Had each plan been followed on the logged customers (doubly robust, 95% intervals, "
        f"over {_months(record.horizon_months)})",
        ["plan", "customers treated", "churn", "churn 95% interval", value, "value 95% interval"],
        [
            [
                policy_label(policy.name),
                f"{policy.treated_share:.1%}",
                _rate(policy.churn["dr"].estimate),
                _rate_interval(policy.churn["dr"]),
                _money(policy.value["dr"].estimate),
                _money_interval(policy.value["dr"]),
            ]
            for policy in policies
        ],
    )
    check = PlainTable(
        "A check: inverse-propensity (IPS) and self-normalised (SNIPS) estimates; far from the "
        "doubly robust ones means the weights or the models are off",
        [
            "plan",
            "churn IPS",
            "churn SNIPS",
            with_unit("value IPS", money_unit),
            with_unit("value SNIPS", money_unit),
        ],
        [_check_row(policy) for policy in policies],
    )
    differences = PlainTable(
        "The recommended plan against the alternatives (paired, 95% intervals)",
        ["recommended minus", "measure", "difference", "95% interval", "verdict"],
        [
            [
                comparison_label(other),
                "churn (points)" if metric == "churn" else with_unit("value", money_unit),
                _signed(estimate, metric),
                _signed_interval(estimate, metric),
                verdict(estimate, metric),
            ]
            for other, metric, estimate in paired_differences(record)
        ],
    )
    return [doubly_robust, check, differences]


def paired_differences(record: EffectsRecord) -> list[tuple[str, str, Estimate]]:
    """(the other policy, "churn" or "value", recommended minus it), as the record keys them
    ("recommended-<policy>:<metric>")."""
    found = []
    for key, estimate in record.off_policy.differences.items():
        other, metric = key.removeprefix("recommended-").rsplit(":", 1)
        found.append((other, metric, estimate))
    return found


def verdict(difference: Estimate, metric: str) -> str:
    """Whether the recommended plan is better beyond its interval, worse, or not
    distinguishable. Lower churn is better; higher value is better."""
    sign = -1.0 if metric == "churn" else 1.0
    low, high = sorted((sign * difference.low, sign * difference.high))
    if low > 0:
        return "better beyond its interval"
    if high < 0:
        return "worse beyond its interval"
    return "not distinguishable: the interval includes 0"


def comparison_sentences(record: EffectsRecord, money_unit: str) -> list[str]:
    """The off-policy answer in words: the plan against what was done, then each paired
    difference with its verdict."""
    by_name = {policy.name: policy for policy in record.off_policy.policies}
    sentences = []
    plan, done = by_name.get("recommended"), by_name.get("logged")
    if plan is not None and done is not None:
        churn = plan.churn["dr"]
        sentences.append(
            f"Had we followed the recommended plan on the logged customers, churn would have "
            f"been {_rate(churn.estimate)} {_rate_interval(churn)} instead of "
            f"{_rate(done.churn['dr'].estimate)}, and the value per customer "
            f"{_amount(plan.value['dr'].estimate, money_unit)} {_money_interval(plan.value['dr'])} "
            f"instead of {_amount(done.value['dr'].estimate, money_unit)} (it would contact "
            f"{record.recommended_share:.1%} of them)."
        )
    grouped: dict[str, dict[str, Estimate]] = {}
    for other, metric, estimate in paired_differences(record):
        grouped.setdefault(other, {})[metric] = estimate
    for other, metrics in grouped.items():
        parts = []
        if "churn" in metrics:
            churn = metrics["churn"]
            parts.append(
                f"churn {_signed(churn, 'churn')} points {_signed_interval(churn, 'churn')} "
                f"({verdict(churn, 'churn')})"
            )
        if "value" in metrics:
            gain = metrics["value"]
            unit = f" {money_unit}" if money_unit else ""
            parts.append(
                f"value {_signed(gain, 'value')}{unit} per customer "
                f"{_signed_interval(gain, 'value')} ({verdict(gain, 'value')})"
            )
        sentences.append(f"Recommended plan minus {comparison_label(other)}: {'; '.join(parts)}.")
    return sentences


def remaining_assumptions(record: EffectsRecord) -> str:
    """What stays assumed: contact fatigue, recency and backlash, unless the log carries the
    controllable state fields."""
    if record.controllable:
        return (
            f"The log carries {', '.join(record.controllable)} as features, so the learned "
            "effects account for them; the simulator's fatigue, recency and backlash settings "
            "remain stated assumptions for planning over time."
        )
    return (
        "Contact fatigue, recency and backlash remain stated assumptions of the simulator: the "
        "log has no recent_interventions or days_since_contact column to learn them from."
    )


def _chosen(record: EffectsRecord, learner: str) -> str:
    return "chosen" if learner == record.learner else ""


def _effect_cells(estimate: EffectEstimate) -> list[str]:
    return [
        _rate(estimate.churn_no_action),
        _rate(estimate.churn_with_action),
        _points(estimate.effect),
        _point_interval(estimate),
        effect_reading(estimate),
    ]


def _check_row(policy: PolicyValue) -> list[str]:
    return [
        policy_label(policy.name),
        _rate(policy.churn["ips"].estimate),
        _rate(policy.churn["snips"].estimate),
        _money(policy.value["ips"].estimate),
        _money(policy.value["snips"].estimate),
    ]


def _months(months: float) -> str:
    return "1 month" if months == 1 else f"{months:g} months"


def _points(share: float) -> str:
    return f"{share * 100:+.1f}"


def _point_interval(estimate: EffectEstimate) -> str:
    return f"[{_points(estimate.low)}, {_points(estimate.high)}]"


def _rate(share: float) -> str:
    return f"{share:.1%}" if math.isfinite(share) else "-"


def _rate_interval(estimate: Estimate) -> str:
    return f"[{_rate(estimate.low)}, {_rate(estimate.high)}]"


def _money(value: float) -> str:
    return f"{value:,.2f}" if math.isfinite(value) else "-"


def _amount(value: float, unit: str) -> str:
    return f"{_money(value)} {unit}" if unit else _money(value)


def _money_interval(estimate: Estimate) -> str:
    return f"[{_money(estimate.low)}, {_money(estimate.high)}]"


def _signed(estimate: Estimate, metric: str) -> str:
    """A difference: churn in percentage points, value in money, with its sign."""
    if metric == "churn":
        return _points(estimate.estimate)
    return f"{estimate.estimate:+,.2f}"


def _signed_interval(estimate: Estimate, metric: str) -> str:
    if metric == "churn":
        return f"[{_points(estimate.low)}, {_points(estimate.high)}]"
    return f"[{estimate.low:+,.2f}, {estimate.high:+,.2f}]"

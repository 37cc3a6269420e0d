"""The report as sections of sentences, tables and chart references, in plain words.

Both renderings (terminal and HTML) draw from these sections, in this order, so they always say
the same thing: the answer first (who gets what, for what spend and gain), then why, then how good
the policy and the churn model are, then the data checks, and the library versions last.
Values are plain text here; each renderer escapes them for its own medium.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from aura_sentinel.curves import Curves
from aura_sentinel.report.content import DRIFT_ALARM, TOP_SHARES, Report
from aura_sentinel.report.effects import NOT_TRIED, effects_view, policy_label
from aura_sentinel.report.effects import TITLE as EFFECTS_TITLE
from aura_sentinel.report.realised import LOGGED_ACTION, ObservedChurn, Realised
from aura_sentinel.report.settings import (
    ASSUMED_EFFECTS,
    STATE_FIELDS,
    dqn_settings,
    simulator_settings,
)
from aura_sentinel.report.valuations import Valuations, paired_valuations
from aura_sentinel.results import RISK_LEVELS
from aura_sentinel.retention.evaluation import POLICY_LABELS
from aura_sentinel.units import MONTHS_OF_CHARGE, with_unit


@dataclass(frozen=True)
class TableView:
    caption: str
    headers: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    """Right-align this column."""


@dataclass
class Section:
    key: str
    title: str
    lead: list[str] = field(default_factory=list)
    tables: list[TableView] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    """Keys of the charts that belong here (see charts.report_charts)."""


def report_sections(report: Report) -> list[Section]:
    sections = [_answer(report), _why(report), _policy(report)]
    if report.effects is not None:
        sections.append(_effects(report))
    sections.append(_model(report))
    if report.outcomes is not None:
        sections.append(_outcomes(report))
    sections += [_checks(report), _versions(report)]
    return sections


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _amount(value: float, unit: str) -> str:
    return f"{_money(value)} {unit}" if unit else _money(value)


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _table(caption: str, headers: list[str], rows: list[list[str]]) -> TableView:
    numeric = [
        bool(rows) and all(_looks_numeric(row[index]) for row in rows)
        for index in range(len(headers))
    ]
    return TableView(caption, headers, rows, numeric)


def _looks_numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("%", "").replace("x", "").strip("+-")
    return stripped == "-" or stripped.replace(".", "", 1).isdigit() or not stripped


def _field_names(roles: tuple[str, ...]) -> str:
    return ", ".join(STATE_FIELDS.get(role, (role, ""))[0] for role in roles)


def _answer(report: Report) -> Section:
    section = Section("answer", "The answer: who gets what, what it costs, what it brings")
    unit = report.money_unit
    counts = report.risk.counts
    split = ", ".join(
        f"{counts[level]:,} {level} ({_share(counts[level], report.customers)})"
        for level in RISK_LEVELS
    )
    section.lead.append(
        f"{report.customers:,} customers in {report.results.name}: {split}; mean churn risk "
        f"{report.mean_probability:.1%}."
    )
    if report.policy is not None:
        contacted = sum(line.customers for line in report.plan[1:])
        ros = (
            f"a return on spend of {report.gain / report.spend:.2f}x"
            if report.spend > 0
            else "nothing is spent"
        )
        section.lead.append(
            f"The plan contacts {contacted:,} customers for a spend of "
            f"{_amount(report.spend, unit)} and an expected gain of "
            f"{_amount(report.gain, unit)} over taking no action: {ros}."
        )
    else:
        section.lead.append("The bundle has no retention policy (trained with --skip-policy).")
    section.lead += _budget_sentences(report)
    section.lead += _assumption_sentences(report)
    if report.card.leaks:
        columns = ", ".join(leak.column for leak in report.card.leaks)
        section.lead.append(
            f"Warning: the churn model may be leaking the outcome through {columns} "
            "(see the churn model's quality)."
        )
    section.tables.append(_risk_levels(report))
    if report.policy is not None:
        section.tables.append(_plan_table(report))
    section.charts = ["actions"]
    return section


def _budget_sentences(report: Report) -> list[str]:
    unit = report.money_unit
    if report.budget is None:
        return ["No budget was set: every customer gets the policy's best action."]
    sentences = [
        f"{_amount(report.spend, unit)} of the budget of {_amount(report.budget, unit)} was "
        f"allocated ({_share(report.spend, report.budget)})."
    ]
    if report.unconstrained is not None:
        spend, gain = report.unconstrained
        sentences.append(
            f"Without the budget the policy would spend {_amount(spend, unit)} for an expected "
            f"gain of {_amount(gain, unit)}; within it the gain is {_amount(report.gain, unit)}."
        )
    return sentences


def _assumption_sentences(report: Report) -> list[str]:
    sentences = []
    if report.money_unit == MONTHS_OF_CHARGE:
        sentences.append(
            "Money is counted in months of charge: the table had no monthly charge column, so "
            "every customer's monthly charge was taken as 1."
        )
    if report.defaulted:
        sentences.append(
            f"Assumed: {_field_names(report.defaulted)} came from default values, not from "
            "the table (see the data checks)."
        )
    sentences.append(_effects_assumption(report))
    return sentences


def _effects_assumption(report: Report) -> str:
    """What the plan's effects rest on: assumed, or assumed while learned ones are evaluated."""
    return ASSUMED_EFFECTS if report.effects is None else report.effects.planned_on()


def _risk_levels(report: Report) -> TableView:
    risk = report.risk
    if risk.thresholds is None:
        rules = dict.fromkeys(RISK_LEVELS, "-")
    else:
        high, medium = risk.thresholds
        rules = {"HIGH": f"> {high:g}", "MEDIUM": f"> {medium:g}", "LOW": f"<= {medium:g}"}
    return _table(
        "Risk levels",
        ["risk level", "churn probability", "customers", "share"],
        [
            [level, rules[level], f"{count:,}", _share(count, report.customers)]
            for level, count in risk.counts.items()
        ],
    )


def _plan_table(report: Report) -> TableView:
    unit = report.money_unit
    rows = []
    for line in report.plan:
        ros = line.return_on_spend
        rows.append(
            [
                line.action,
                f"{line.customers:,}",
                *(f"{line.by_risk.get(level, 0):,}" for level in RISK_LEVELS),
                _money(line.spend),
                _money(line.gain),
                "-" if ros is None else f"{ros:.2f}x",
            ]
        )
    total_ros = f"{report.gain / report.spend:.2f}x" if report.spend > 0 else "-"
    rows.append(
        [
            "Total",
            f"{sum(line.customers for line in report.plan):,}",
            *(f"{report.risk.counts[level]:,}" for level in RISK_LEVELS),
            _money(report.spend),
            _money(report.gain),
            total_ros,
        ]
    )
    return _table(
        "The plan: customers per action, by risk level",
        [
            "action",
            "customers",
            *(f"{level} risk" for level in RISK_LEVELS),
            with_unit("spend", unit),
            with_unit("expected gain", unit),
            "return on spend",
        ],
        rows,
    )


def _why(report: Report) -> Section:
    section = Section("why", "Why they are at risk")
    risk = report.risk
    if risk.segment_name is not None:
        rows = [
            [
                name,
                f"{sum(counts.values()):,}",
                *(f"{counts[level]:,}" for level in RISK_LEVELS),
                _share(counts["HIGH"], sum(counts.values())),
                f"{mean:.1%}",
            ]
            for name, counts, mean in risk.segments
        ]
        section.tables.append(
            _table(
                f"Risk by {risk.segment_name}",
                [risk.segment_name, "customers", *RISK_LEVELS, "HIGH share", "mean risk"],
                rows,
            )
        )
    else:
        section.lead.append(
            "No segment table: the results have no Contract and no Tenure values to group "
            "customers by."
        )
    if report.global_drivers:
        section.lead.append(
            "Drivers are each customer's exact contributions to the churn log-odds (the churn "
            "model's Shapley values, as TreeSHAP defines them); a feature's weight is the mean of "
            "their absolute size over all scored customers."
        )
        section.tables.append(
            _table(
                "Global drivers",
                ["feature", "mean absolute contribution"],
                [[name, f"{weight:.3f}"] for name, weight in report.global_drivers],
            )
        )
    else:
        section.lead.append("Global drivers are not available for these results (see notes).")
    if report.high_risk_drivers:
        high = report.high_risk_customers
        rows = [
            [text, f"{count:,}", _share(count, high)] for text, count in report.high_risk_drivers
        ]
        section.lead.append(
            "A number driver is grouped by the quantile bins of the training data, each group "
            "named by the range of the values in it (tenure 1-5: tenures from 1 to 5)."
        )
        section.tables.append(
            _table(
                f"Most common top-3 drivers among the {high:,} HIGH-risk customers",
                ["driver", "HIGH-risk customers", "share of HIGH"],
                rows,
            )
        )
    section.charts = ["histogram", "drivers"]
    return section


def _policy(report: Report) -> Section:
    section = Section("policy", "How good the plan is")
    quality = report.policy
    if quality is None:
        section.lead.append("The bundle has no retention policy (trained with --skip-policy).")
        return section
    unit = report.money_unit
    evaluation = quality.evaluation
    values = evaluation.values
    base = values["no_action"]
    section.lead = [
        f"At training, every policy was evaluated exactly (not by sampling) on "
        f"{evaluation.customers:,} customers held out from the policy's training, in the retention "
        f"simulator below. Per customer, the DQN gains {_amount(values['dqn'] - base, unit)} over "
        f"taking no action, the optimum {_amount(values['optimal'] - base, unit)}: the DQN "
        f"captures {evaluation.gain_ratio:.1%} of the optimum's gain and picks the optimum's "
        f"action for {evaluation.optimal_match:.1%} of customers.",
        "These are expected values under the simulator's stated assumptions (below), not "
        "observed results; check them against real retention outcomes when you have them. "
        + _effects_assumption(report),
    ]
    if report.effects is None:
        rows = [
            [POLICY_LABELS.get(name, name), f"{value - base:+,.2f}", _money(value)]
            for name, value in sorted(values.items(), key=lambda item: -item[1])
        ]
        section.tables.append(
            _table(
                "Expected profit per customer, by policy",
                [
                    "policy",
                    with_unit("gain over no action", unit),
                    with_unit("total discounted profit", unit),
                ],
                rows,
            )
        )
    else:
        section.lead.append(_side_by_side_reading(report))
        section.tables.append(_side_by_side(report))
    section.tables.append(_actions_table(report))
    section.tables.append(
        _table("Simulator settings", ["setting", "value"], simulator_settings(quality.simulator))
    )
    if quality.dqn:
        section.tables.append(
            _table("DQN training settings", ["setting", "value"], dqn_settings(quality.dqn))
        )
    if report.realised is not None:
        lead, tables = _realised(report, report.realised)
        section.lead += lead
        section.tables[1:1] = tables  # after the policies' values, before the settings
    section.charts = ["policies"]
    return section


def _side_by_side_reading(report: Report) -> str:
    """What each column of the side-by-side table measures: their units differ."""
    assert report.policy is not None and report.effects is not None
    horizon = report.effects.horizon_months
    months = "1 month" if horizon == 1 else f"{horizon:g} months"
    return (
        "Each policy is valued twice below, in different units, so the two are shown side by "
        "side and never subtracted. Simulator: the exact expected discounted profit per "
        f"customer over the customer's lifetime under the simulator calibrated with the learned "
        f"effects, on the {report.policy.evaluation.customers:,} held-out customers. Campaign "
        "log: the doubly robust estimate, with its 95% interval, of the churn rate and the "
        f"value per customer within {months} of the action, had the policy been followed on "
        "the logged customers. For the DQN the log holds the one-step plan on the learned "
        "effects that `train` evaluated, and each side's best single action is its own best. "
        "A blank cell: that side has no such policy."
    )


def _side_by_side(report: Report) -> TableView:
    assert report.policy is not None and report.effects is not None
    unit = report.money_unit
    values = report.policy.evaluation.values
    shares = [share for _, share, _ in report.policy.catalog]
    rows = [
        _valuation_row(row, values["no_action"])
        for row in paired_valuations(values, report.effects, shares)
    ]
    return _table(
        "Each policy under the calibrated simulator and on the campaign log",
        [
            "policy",
            with_unit("simulator: gain over no action", unit),
            with_unit("simulator: profit per customer", unit),
            "campaign log: evaluated as",
            "campaign log: churn [95%]",
            with_unit("campaign log: value per customer [95%]", unit),
        ],
        rows,
    )


def _valuation_row(row: Valuations, base: float) -> list[str]:
    certified = ["", ""]
    if row.certified is not None:
        certified = [f"{row.certified - base:+,.2f}", _money(row.certified)]
    logged = ["", "", ""]
    if row.off_policy is not None:
        churn, value = row.off_policy.churn["dr"], row.off_policy.value["dr"]
        logged = [
            policy_label(row.off_policy.name),
            f"{churn.estimate:.1%} [{churn.low:.1%}, {churn.high:.1%}]",
            f"{value.estimate:,.2f} [{value.low:,.2f}, {value.high:,.2f}]",
        ]
    label = POLICY_LABELS.get(row.name) if row.certified is not None else None
    return [label or policy_label(row.name), *certified, *logged]


def _actions_table(report: Report) -> TableView:
    """The catalog: each action's cost and its effect, assumed or learned."""
    assert report.policy is not None
    quality = report.policy
    discount_ids = set(quality.simulator.get("discount_actions", []))
    effects = report.effects

    def effect(index: int, assumed: float) -> str:
        if effects is None:
            return f"-{assumed:.0%}" if assumed > 0 else "none"
        if index == 0:
            return "none"
        return "learned per customer" if effects.tried[index] else NOT_TRIED

    return _table(
        "Assumed actions" if effects is None else "Actions",
        [
            "action",
            "cost (share of a monthly charge)",
            "assumed effect on the monthly churn hazard"
            if effects is None
            else "effect on the monthly churn hazard",
            "price discount",
        ],
        [
            [
                name,
                f"{share:.0%}",
                effect(index, assumed),
                "yes" if index in discount_ids else "no",
            ]
            for index, (name, share, assumed) in enumerate(quality.catalog)
        ],
    )


def _realised(report: Report, realised: Realised) -> tuple[list[str], list[TableView]]:
    """The realised result: observed churn by logged action, and with or without following the
    recommendation, said to be observational."""
    followed, other = realised.followed, realised.not_followed
    left_out = [
        f"{count:,} {reason}"
        for count, reason in (
            (realised.unlogged, "without a logged action or an outcome"),
            (realised.unrecognised, "whose logged action is not in the catalog"),
        )
        if count
    ]
    left = f" ({' and '.join(left_out)} left out)" if left_out else ""
    lead = [
        f"Realised result: the results carry each customer's outcome and the action they were "
        f"actually given ({LOGGED_ACTION}){left}. Churn was "
        f"{_observed(followed)} among the customers given the recommended action, against "
        f"{_observed(other)} among the others.",
        _observational(report),
    ]
    headers = ["customers", "churned", "observed churn", "95% interval (Wilson)"]
    tables = [
        _table(
            "Realised churn by the action actually given (observed)",
            ["action given", *headers],
            [[group.label, *_observed_cells(group)] for group in realised.per_action],
        ),
        _table(
            "Realised churn when the recommendation was followed or not (observed)",
            ["customers who", *headers],
            [[group.label, *_observed_cells(group)] for group in (followed, other)],
        ),
    ]
    return lead, tables


def _observational(report: Report) -> str:
    unlike = (
        "customers given different actions, and those who got the recommended one or not, may "
        "differ in more than the action, so the gaps between these rates are not effects"
    )
    if report.effects is None:
        return f"These rates are observational unless the log's actions were randomised: {unlike}."
    if report.effects.propensity.logged:
        return (
            "These rates are observed, not estimated: the log records the probability of each "
            "action, so if the actions were assigned at random they compare like with like; if "
            f"a targeting rule chose them they are observational: {unlike}."
        )
    return (
        "These rates are observational: the log's actions were not assigned with known "
        f"probabilities (they were estimated), so {unlike}. The campaign-log estimates above "
        "correct for who got what; these do not."
    )


def _observed(group: ObservedChurn) -> str:
    if not group.customers:
        return "not observed (no customers)"
    return f"{group.rate:.1%} [{group.low:.1%}, {group.high:.1%}] ({group.customers:,} customers)"


def _observed_cells(group: ObservedChurn) -> list[str]:
    if not group.customers:
        return ["0", "0", "-", "-"]
    return [
        f"{group.customers:,}",
        f"{group.churned:,}",
        f"{group.rate:.1%}",
        f"[{group.low:.1%}, {group.high:.1%}]",
    ]


def _effects(report: Report) -> Section:
    """What the campaign log showed: effects by action and segment, and the plans off-line."""
    assert report.effects is not None
    view = effects_view(report.effects, report.money_unit)
    section = Section("effects", EFFECTS_TITLE, lead=view.lead)
    section.tables = [_table(table.caption, table.headers, table.rows) for table in view.tables]
    return section


def _model(report: Report) -> Section:
    card = report.card
    rate = card.training_churn_rate
    metrics = card.metrics
    section = Section("model", "How good the churn model is")
    section.lead = [
        f"XGBoost, {card.trees} trees of depth {card.depth}, trained on {card.training_rows:,} "
        f"customers of {card.training_file} (churn rate {rate:.1%}).",
        f"The figures below are out-of-fold: each customer was scored by a model that never saw "
        f"them ({card.folds}-fold cross-validation), so they estimate accuracy on new customers.",
    ]
    if card.leaks:
        section.lead.append(
            f"Warning: {len(card.leaks)} column(s) predict churn suspiciously well on their own "
            "(table below): the metrics are probably too good to be true until they are checked."
        )
    leak_note = " - see the leak warning below" if card.leaks else ""
    readings = {
        "roc_auc": (
            "ROC AUC",
            f"a churner is ranked riskier than a stayer in {metrics.get('roc_auc', 0):.0%} of "
            f"pairs (0.5 is a coin toss){leak_note}",
        ),
        "pr_auc": ("PR AUC", f"precision across recall levels; a random ranking scores {rate:.2f}"),
        "accuracy": (
            "Accuracy at 50%",
            f"customers classed right at a 50% cut-off; calling everyone a stayer scores "
            f"{max(rate, 1 - rate):.1%}",
        ),
        "brier": (
            "Brier score",
            f"mean squared error of the probabilities; predicting the churn rate for everyone "
            f"scores {rate * (1 - rate):.3f} (lower is better)",
        ),
        "ece": (
            "Calibration error",
            f"predicted and observed churn differ by {metrics.get('ece', 0):.1%} on average "
            "(10 probability bins)",
        ),
    }
    rows = [
        [label, f"{metrics[key]:.3f}", reading]
        for key, (label, reading) in readings.items()
        if key in metrics
    ]
    section.tables.append(_table("Cross-validated metrics", ["metric", "value", "reading"], rows))
    if card.leaks:
        section.tables.append(
            _table(
                "Leak warnings: columns that predict churn suspiciously well on their own",
                [
                    "column",
                    "ROC AUC on its own",
                    "share of the model's contributions",
                    "verdict",
                    "what to do",
                ],
                [
                    [
                        leak.column,
                        f"{leak.roc_auc:.3f}",
                        f"{leak.contribution_share:.0%}",
                        leak.verdict,
                        "if it is known only after churn (or computed from it), retrain with "
                        f"--exclude {shlex.quote(leak.column)}",
                    ]
                    for leak in card.leaks
                ],
            )
        )
    if card.sensitive:
        section.lead.append(
            "Some columns look like sensitive attributes (table below). Decide whether the model "
            "should use them; `train --exclude COLUMN` leaves one out."
        )
        section.tables.append(
            _table(
                "Sensitive attributes",
                [
                    "column",
                    "looks like",
                    "used by the model",
                    "driver rank",
                    "share of contributions",
                ],
                [
                    [
                        column.column,
                        column.attribute,
                        "yes" if column.used else "no",
                        "-" if column.rank is None else str(column.rank),
                        f"{column.contribution_share:.1%}" if column.used else "-",
                    ]
                    for column in card.sensitive
                ],
            )
        )
    used = ", ".join(card.features_used)
    section.lead.append(f"Features used ({len(card.features_used)}): {used}.")
    if card.features_dropped:
        section.tables.append(
            _table(
                "Columns not used",
                ["column", "reason"],
                [[name, reason] for name, reason in card.features_dropped],
            )
        )
    section.charts = ["calibration", "roc", "gain"]
    return section


def _outcomes(report: Report) -> Section:
    outcomes = report.outcomes
    assert outcomes is not None
    section = Section("outcomes", "Against real outcomes")
    section.lead = [
        f"The results carry the real outcome column '{outcomes.target}' for "
        f"{outcomes.customers:,} customers (churn rate {outcomes.churn_rate:.1%}); "
        f"{outcomes.unknown:,} have none and are left out. Realised ROC AUC: "
        f"{outcomes.roc_auc:.3f}."
    ]
    if outcomes.in_sample:
        section.lead.append(
            "Caution: these are the customers the model was trained on, so these figures are "
            "optimistic; the cross-validated ones above are the honest estimate."
        )
    section.tables.append(_top_shares(outcomes.curves))
    section.tables.append(_calibration(outcomes.curves))
    section.charts = []
    return section


def _top_shares(curves: Curves) -> TableView:
    rows = [
        [f"top {share:.0%}", f"{curves.capture_at(share):.1%}", f"{curves.lift_at(share):.2f}x"]
        for share in TOP_SHARES
    ]
    return _table(
        "Riskiest customers first: churners captured and lift",
        ["customers contacted", "churners captured", "lift"],
        rows,
    )


def _calibration(curves: Curves) -> TableView:
    rows = [
        [str(index + 1), f"{count:,}", f"{predicted:.1%}", f"{observed:.1%}"]
        for index, (count, predicted, observed) in enumerate(
            zip(curves.customers, curves.predicted, curves.observed, strict=True)
        )
    ]
    return _table(
        "Calibration per risk decile (1 = lowest risk)",
        ["decile", "customers", "predicted churn", "observed churn"],
        rows,
    )


def _checks(report: Report) -> Section:
    section = Section("checks", "Data checks")
    if report.drift is None:
        section.lead.append(
            "No drift figures: the results have no run record (or one without drift)."
        )
    elif report.drift:
        shifted = [name for name, psi in report.drift if psi > DRIFT_ALARM]
        section.lead.append(
            "The population stability index (PSI) compares each column's distribution in the "
            "scored data with the training data: under 0.1 is stable, 0.1-0.25 a moderate "
            f"shift, over {DRIFT_ALARM:g} a large shift the model and the policy were not "
            "trained for."
        )
        if shifted:
            section.lead.append(f"Large shift in: {', '.join(shifted)}.")
        section.tables.append(
            _table(
                "Drift from the training data, largest first",
                ["column", "PSI", "shift"],
                [[name, f"{psi:.3f}", _drift_reading(psi)] for name, psi in report.drift],
            )
        )
    outside = {name: count for name, count in report.out_of_range.items() if count}
    if outside:
        section.tables.append(
            _table(
                "State fields outside the training range",
                ["state field", "customers outside"],
                [[name, f"{count:,}"] for name, count in sorted(outside.items())],
            )
        )
    if report.state_columns:
        section.lead.append(
            "The retention policy reads these fields of each customer; a field without a column "
            "in the table takes a default value, the same for every customer."
        )
        section.tables.append(
            _table(
                "Where the policy's customer fields came from",
                ["state field", "column used"],
                [
                    [STATE_FIELDS.get(role, (role, ""))[0], _source(report, role, column)]
                    for role, column in report.state_columns.items()
                ],
            )
        )
    return section


def _source(report: Report, role: str, column: str | None) -> str:
    if column is not None:
        return column
    if role == "engagement" and role not in report.defaulted:
        return "none: derived from the service columns"
    return f"none: default ({STATE_FIELDS.get(role, ('', 'assumed'))[1]})"


def _drift_reading(psi: float) -> str:
    if psi > DRIFT_ALARM:
        return "LARGE"
    return "moderate" if psi > 0.1 else "stable"


def _versions(report: Report) -> Section:
    card = report.card
    section = Section("versions", "Library versions and fingerprints")
    section.tables.append(
        _table(
            "Library versions at training",
            ["library", "version"],
            [[name, version] for name, version in card.libraries.items()],
        )
    )
    section.tables.append(
        _table(
            "Fingerprints (SHA-256)",
            ["file", "SHA-256"],
            [
                [f"training data ({card.training_file})", card.training_sha256],
                *([name, digest] for name, digest in sorted(card.artifacts.items())),
            ],
        )
    )
    return section

"""The report as sections of sentences, tables and chart references, in plain words.

Both renderings (terminal and HTML) draw from these sections, so they always say the same thing.
Values are plain text here; each renderer escapes them for its own medium.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aura_sentinel.curves import Curves
from aura_sentinel.report.content import TOP_SHARES, Report
from aura_sentinel.results import RISK_LEVELS
from aura_sentinel.retention.evaluation import POLICY_LABELS


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
    sections = [_model(report), _risk(report), _why(report), _plan(report), _policy(report)]
    if report.outcomes is not None:
        sections.append(_outcomes(report))
    return sections


def _money(value: float) -> str:
    return f"{value:,.2f}"


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


def _model(report: Report) -> Section:
    card = report.card
    rate = card.training_churn_rate
    metrics = card.metrics
    section = Section("model", "How good is the churn model")
    section.lead = [
        f"XGBoost, {card.trees} trees of depth {card.depth}, trained on {card.training_rows:,} "
        f"customers of {card.training_file} (churn rate {rate:.1%}; file SHA-256 "
        f"{card.training_sha256[:16]}...).",
        f"The figures below are out-of-fold: each customer was scored by a model that never saw "
        f"them ({card.folds}-fold cross-validation), so they estimate accuracy on new customers.",
    ]
    readings = {
        "roc_auc": (
            "ROC AUC",
            f"a churner is ranked riskier than a stayer in {metrics['roc_auc']:.0%} of pairs "
            "(0.5 is a coin toss)",
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
            f"predicted and observed churn differ by {metrics['ece']:.1%} on average "
            "(10 probability bins)",
        ),
    }
    rows = [
        [label, f"{metrics[key]:.3f}", reading]
        for key, (label, reading) in readings.items()
        if key in metrics
    ]
    section.tables.append(_table("Cross-validated metrics", ["metric", "value", "reading"], rows))
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
    section.tables.append(
        _table(
            "Library versions at training",
            ["library", "version"],
            [[name, version] for name, version in card.libraries.items()],
        )
    )
    section.charts = ["calibration", "roc", "gain"]
    return section


def _risk(report: Report) -> Section:
    risk = report.risk
    section = Section("risk", "Who is at risk")
    section.lead = [
        f"{report.customers:,} customers in {report.results.name}; mean churn risk "
        f"{report.mean_probability:.1%}."
    ]
    if risk.thresholds is None:
        rules = dict.fromkeys(RISK_LEVELS, "-")
    else:
        high, medium = risk.thresholds
        rules = {"HIGH": f"> {high:g}", "MEDIUM": f"> {medium:g}", "LOW": f"<= {medium:g}"}
    section.tables.append(
        _table(
            "Risk levels",
            ["risk level", "churn probability", "customers", "share"],
            [
                [level, rules[level], f"{count:,}", _share(count, report.customers)]
                for level, count in risk.counts.items()
            ],
        )
    )
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
    section.charts = ["histogram"]
    return section


def _why(report: Report) -> Section:
    section = Section("why", "Why they are at risk")
    if report.global_drivers:
        section.lead.append(
            "Drivers are XGBoost's exact per-customer contributions to the churn log-odds; a "
            "feature's weight is the mean of their absolute size over all scored customers."
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
        section.tables.append(
            _table(
                f"Most common top-3 drivers among the {high:,} HIGH-risk customers",
                ["driver (feature=value)", "HIGH-risk customers", "share of HIGH"],
                rows,
            )
        )
    section.charts = ["drivers"]
    return section


def _plan(report: Report) -> Section:
    section = Section("plan", "What we will do, what it costs, what it brings")
    rows = []
    for line in report.plan:
        ros = line.return_on_spend
        rows.append(
            [
                line.action,
                f"{line.customers:,}",
                _money(line.spend),
                _money(line.gain),
                "-" if ros is None else f"{ros:.2f}x",
            ]
        )
    total_ros = f"{report.gain / report.spend:.2f}x" if report.spend > 0 else "-"
    customers = sum(line.customers for line in report.plan)
    rows.append(["Total", f"{customers:,}", _money(report.spend), _money(report.gain), total_ros])
    section.tables.append(
        _table(
            "Plan per action",
            ["action", "customers", "spend", "expected gain", "return on spend"],
            rows,
        )
    )
    section.lead.append(
        "Spend is the action's cost this month; expected gain is the policy's expected "
        "discounted profit over taking no action, net of that cost, so a return on spend "
        "of 0.5x means 50 of profit on top of every 100 spent."
    )
    if report.budget is not None:
        used = f"{report.spend:,.2f} of the budget of {report.budget:,.2f} was allocated"
        section.lead.append(used + f" ({_share(report.spend, report.budget)}).")
        if report.unconstrained is not None:
            spend, gain = report.unconstrained
            section.lead.append(
                f"Without the budget the policy would spend {spend:,.2f} for an expected gain "
                f"of {gain:,.2f}; within it the gain is {report.gain:,.2f}."
            )
    else:
        section.lead.append("No budget was set: every customer gets the policy's best action.")
    section.charts = ["actions"]
    return section


def _policy(report: Report) -> Section:
    section = Section("policy", "How we know the advice is good")
    quality = report.policy
    if quality is None:
        section.lead.append("The bundle has no retention policy (trained with --skip-policy).")
        return section
    evaluation = quality.evaluation
    values = evaluation.values
    section.lead = [
        f"At training, every policy was evaluated exactly (not by sampling) on "
        f"{evaluation.customers:,} customers held out from the policy's training, in the retention "
        f"simulator below. The DQN earns {values['dqn']:,.2f} per customer against the optimum's "
        f"{values['optimal']:,.2f}: it captures {evaluation.gain_ratio:.1%} of the gain the "
        f"optimum makes over taking no action, and picks the optimum's action for "
        f"{evaluation.optimal_match:.1%} of customers.",
        "These are expected values under the simulator's stated assumptions (below), not "
        "observed results; check them against real retention outcomes when you have them.",
    ]
    base = values["no_action"]
    rows = [
        [POLICY_LABELS.get(name, name), _money(value), f"{value - base:+,.2f}"]
        for name, value in sorted(values.items(), key=lambda item: -item[1])
    ]
    section.tables.append(
        _table("Expected profit per customer", ["policy", "value", "vs no action"], rows)
    )
    discount_ids = set(quality.simulator.get("discount_actions", []))
    section.tables.append(
        _table(
            "Assumed actions",
            ["action", "cost (share of monthly charge)", "base effect on churn", "price discount"],
            [
                [name, f"{share:.0%}", f"-{effect:.0%}", "yes" if index in discount_ids else "no"]
                for index, (name, share, effect) in enumerate(quality.catalog)
            ],
        )
    )
    section.tables.append(
        _table(
            "Simulator settings",
            ["setting", "value"],
            [
                [name, _setting(value)]
                for name, value in sorted(quality.simulator.items())
                if name not in ("action_effects", "discount_actions")  # in the actions table
            ],
        )
    )
    section.charts = ["policies"]
    return section


def _setting(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(f"{item:g}" if isinstance(item, float) else str(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


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

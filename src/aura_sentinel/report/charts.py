"""The report's charts, drawn with matplotlib from the report's aggregates into SVG text.

Only aggregates are plotted (histogram counts, thinned curves, per-action totals), so a chart
costs the same for a thousand customers as for millions. Text is kept as SVG text (searchable,
small), maths parsing is off (a level such as "$50+" is data, not LaTeX), and the SVG carries no
date and a fixed id salt, so the same report gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from aura_sentinel.curves import Curves
from aura_sentinel.report.content import HISTOGRAM_BINS, Report
from aura_sentinel.results import RISK_LEVELS
from aura_sentinel.units import with_unit

LEVEL_COLOURS = {"HIGH": "#d55e00", "MEDIUM": "#e69f00", "LOW": "#009e73"}  # Okabe-Ito
CV_COLOUR = "#0072b2"
REALISED_COLOUR = "#cc79a7"
NEUTRAL = "#888888"
_STYLE: dict[Any, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "aura-sentinel",
    "text.parse_math": False,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
}


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    alt: str
    """A sentence saying what the chart shows, with its main numbers, for screen readers."""
    svg: str


def report_charts(report: Report) -> list[Chart]:
    """Every chart the report's data allows, in reading order."""
    with matplotlib.rc_context(_STYLE):
        return list(_charts(report))


def _charts(report: Report) -> Iterator[Chart]:
    yield _histogram(report)
    curves = _curve_sets(report)
    if curves:
        yield _calibration(curves)
        yield _roc(curves)
        yield _gain(curves)
    if report.global_drivers:
        yield _drivers(report)
    if any(line.customers for line in report.plan):
        yield _action_mix(report)
    if report.policy is not None:
        yield _policy_values(report)


def _curve_sets(report: Report) -> list[tuple[str, str, Curves]]:
    sets = []
    if report.card.cv_curves is not None:
        sets.append(("cross-validated at training", CV_COLOUR, report.card.cv_curves))
    if report.outcomes is not None:
        sets.append(("these customers' real outcomes", REALISED_COLOUR, report.outcomes.curves))
    return sets


def _figure(height: float = 3.4) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(6.4, height), layout="constrained")
    return figure, figure.subplots()


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _histogram(report: Report) -> Chart:
    figure, axes = _figure()
    width = 1.0 / HISTOGRAM_BINS
    lefts = [index * width for index in range(HISTOGRAM_BINS)]
    bottom = [0] * HISTOGRAM_BINS
    for level in reversed(RISK_LEVELS):
        counts = report.risk.histogram[level]
        axes.bar(
            lefts, counts, width=width, bottom=bottom, align="edge", label=level,
            color=LEVEL_COLOURS[level], edgecolor="white", linewidth=0.5,
        )  # fmt: skip
        bottom = [below + count for below, count in zip(bottom, counts, strict=True)]
    if report.risk.thresholds is not None:
        for threshold in report.risk.thresholds:
            axes.axvline(threshold, color=NEUTRAL, linestyle="--", linewidth=1)
    axes.set_xlim(0, 1)
    axes.set_xlabel("churn probability")
    axes.set_ylabel("customers")
    axes.set_title("Churn probability by risk level")
    axes.legend(frameon=False)
    per_level = ", ".join(f"{report.risk.counts[level]:,} {level}" for level in RISK_LEVELS)
    alt = (
        f"Histogram of the churn probability of {report.customers:,} customers in bins of "
        f"{width:.2f}, coloured by risk level: {per_level}."
    )
    return Chart("histogram", "Churn probability by risk level", alt, _svg(figure))


def _diagonal(axes: Axes, label: str) -> None:
    axes.plot([0, 1], [0, 1], color=NEUTRAL, linestyle=":", linewidth=1, label=label)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_aspect("equal")


def _calibration(curves: list[tuple[str, str, Curves]]) -> Chart:
    figure, axes = _figure(4.0)
    _diagonal(axes, "perfect calibration")
    parts = []
    for label, colour, curve in curves:
        axes.plot(curve.predicted, curve.observed, marker="o", color=colour, label=label)
        gap = max(abs(p - o) for p, o in zip(curve.predicted, curve.observed, strict=True))
        parts.append(f"{label}: largest gap between predicted and observed {gap:.1%}")
    axes.set_xlabel("mean predicted churn probability (per risk decile)")
    axes.set_ylabel("observed churn rate")
    axes.set_title("Calibration: predicted versus observed churn")
    axes.legend(frameon=False, loc="upper left")
    alt = "Calibration curve over ten risk deciles; " + "; ".join(parts) + "."
    return Chart("calibration", "Calibration", alt, _svg(figure))


def _roc(curves: list[tuple[str, str, Curves]]) -> Chart:
    figure, axes = _figure(4.0)
    _diagonal(axes, "chance")
    for label, colour, curve in curves:
        axes.plot(curve.false_alarms, curve.captured, color=colour, label=label)
    axes.set_xlabel("share of stayers flagged (false-positive rate)")
    axes.set_ylabel("share of churners flagged (true-positive rate)")
    axes.set_title("ROC curve")
    axes.legend(frameon=False, loc="lower right")
    alt = "ROC curve: " + "; ".join(label for label, _, _ in curves) + ", against chance."
    return Chart("roc", "ROC curve", alt, _svg(figure))


def _gain(curves: list[tuple[str, str, Curves]]) -> Chart:
    figure, axes = _figure(4.0)
    _diagonal(axes, "random order")
    parts = []
    for label, colour, curve in curves:
        axes.plot(curve.contacted, curve.captured, color=colour, label=label)
        parts.append(f"{label}: top 20% holds {curve.capture_at(0.2):.0%} of churners")
    axes.set_xlabel("share of customers contacted, riskiest first")
    axes.set_ylabel("share of churners reached")
    axes.set_title("Cumulative gain")
    axes.legend(frameon=False, loc="lower right")
    alt = "Cumulative gain curve; " + "; ".join(parts) + "."
    return Chart("gain", "Cumulative gain", alt, _svg(figure))


def _drivers(report: Report) -> Chart:
    names = [name for name, _ in report.global_drivers][::-1]
    weights = [weight for _, weight in report.global_drivers][::-1]
    figure, axes = _figure(0.6 + 0.3 * len(names))
    axes.barh(names, weights, color=CV_COLOUR)
    axes.set_xlim(left=0)
    axes.set_xlabel("mean absolute contribution to the churn log-odds")
    axes.set_title("Top churn drivers")
    top = ", ".join(f"{name} ({weight:.2f})" for name, weight in report.global_drivers[:3])
    alt = f"Bar chart of the {len(names)} strongest churn drivers; strongest: {top}."
    return Chart("drivers", "Top churn drivers", alt, _svg(figure))


def _action_mix(report: Report) -> Chart:
    figure = Figure(figsize=(6.4, 0.9 + 0.35 * len(report.plan)), layout="constrained")
    customers_axes, spend_axes = figure.subplots(1, 2, sharey=True)
    plan = report.plan[::-1]
    names = [line.action for line in plan]
    left = [0] * len(plan)
    for level in RISK_LEVELS:
        counts = [line.by_risk.get(level, 0) for line in plan]
        customers_axes.barh(names, counts, left=left, label=level, color=LEVEL_COLOURS[level])
        left = [before + count for before, count in zip(left, counts, strict=True)]
    customers_axes.set_xlim(left=0)
    customers_axes.set_xlabel("customers")
    customers_axes.set_title("Who gets what")
    customers_axes.legend(frameon=False, fontsize=8)
    spend_axes.barh(names, [line.spend for line in plan], color=NEUTRAL)
    spend_axes.set_xlim(left=0)
    spend_axes.set_xlabel(with_unit("spend", report.money_unit))
    spend_axes.set_title("Spend")
    mix = ", ".join(f"{line.action}: {line.customers:,}" for line in report.plan)
    alt = (
        f"Customers per recommended action, by risk level, and spend per action ({mix}); total "
        f"spend {report.spend:,.2f}{' ' + report.money_unit if report.money_unit else ''}."
    )
    return Chart("actions", "Who gets what, and the spend", alt, _svg(figure))


POLICY_NAMES = {
    "always_email": "always email",
    "risk_rule": "risk rule",
    "myopic": "myopic",
    "best_single_action": "best single action",
    "treat_the_riskiest": "treat the riskiest",
    "dqn": "DQN (trained policy)",
    "optimal": "optimum",
}


def policy_gain_figure(report: Report) -> Figure:
    """Each policy's expected gain per customer over taking no action, on an axis from 0."""
    assert report.policy is not None
    values = report.policy.evaluation.values
    keys = [key for key in POLICY_NAMES if key in values]
    gains = [values[key] - values["no_action"] for key in keys]
    figure, axes = _figure(0.8 + 0.35 * len(keys))
    colours = [CV_COLOUR if key == "dqn" else NEUTRAL for key in keys]
    bars = axes.barh([POLICY_NAMES[key] for key in keys], gains, color=colours)
    axes.bar_label(bars, fmt="{:+,.2f}", padding=3, fontsize=8)
    axes.axvline(0, color=NEUTRAL, linewidth=0.8)
    low, high = min(0.0, *gains), max(0.0, *gains)
    margin = (high - low) * 0.15 or 1.0  # room for the value labels
    axes.set_xlim(low - margin if low < 0 else 0.0, high + margin)
    axes.set_xlabel(
        with_unit("expected gain per customer over taking no action", report.money_unit)
    )
    axes.set_title("Gain of each policy over taking no action")
    return figure


def _policy_values(report: Report) -> Chart:
    assert report.policy is not None
    evaluation = report.policy.evaluation
    values = evaluation.values
    unit = f" {report.money_unit}" if report.money_unit else ""
    alt = (
        "Bar chart of the expected gain per customer over taking no action, by policy: "
        + ", ".join(
            f"{POLICY_NAMES[key]} {values[key] - values['no_action']:,.2f}{unit}"
            for key in POLICY_NAMES
            if key in values
        )
        + f"; the DQN reaches {evaluation.gain_ratio:.0%} of the optimum's gain."
    )
    figure = policy_gain_figure(report)
    return Chart("policies", "Gain of each policy over taking no action", alt, _svg(figure))

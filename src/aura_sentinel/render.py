"""Rich output for the terminal: progress bars and summary tables. Only the CLI calls this.

Progress is a Rich bar on a terminal; when stderr is redirected to a file (a log), it is plain
lines there instead (see `ProgressLines`); on a pipe, nothing, so that a program reading the
output sees an error as its one line.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aura_sentinel.churn import Progress as ProgressCallback
from aura_sentinel.drift import PSI_WARNING, STATE_PREFIX, drifted
from aura_sentinel.pipeline import ScoreSummary
from aura_sentinel.report.effects import (
    SUMMARY_HEADERS,
    comparison_sentences,
    source_sentences,
    summary_effect_rows,
)
from aura_sentinel.report.settings import ASSUMED_EFFECTS
from aura_sentinel.results import STDOUT
from aura_sentinel.retention.evaluation import POLICY_LABELS, PolicyEvaluation
from aura_sentinel.retention.state import SERVICE_ROLES, StateAssumptions
from aura_sentinel.units import with_unit

if TYPE_CHECKING:  # training imports torch, which `score` loads off the main thread
    from aura_sentinel.effects.record import EffectsRecord
    from aura_sentinel.training import ChurnSummary, TrainSummary

METRIC_READINGS = {
    "roc_auc": ("ROC AUC", "chance a churner is ranked above a stayer (0.5 = coin, 1 = perfect)"),
    "pr_auc": ("PR AUC", "precision across recall levels; compare with the churn rate"),
    "accuracy": ("Accuracy at 0.5", "share of customers classed right at a 50% cut-off"),
    "f1": ("F1 at 0.5", "balance of precision and recall for churners at a 50% cut-off"),
    "brier": ("Brier score", "mean squared error of the probabilities (lower is better)"),
    "log_loss": ("Log loss", "penalty for confident wrong probabilities (lower is better)"),
    "ece": ("Calibration error", "mean gap between predicted and observed churn (10 bins)"),
}


LINE_SECONDS = 5.0
"""Within a stage, at most one progress line this often."""


def stderr_is_a_log() -> bool:
    """Whether stderr is redirected to a regular file."""
    try:
        return stat.S_ISREG(os.fstat(sys.stderr.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # no stderr, or one without a file number
        return False


class ProgressLines:
    """Progress as plain lines on stderr, "COMMAND: TEXT": one when a stage starts, then at most
    one every LINE_SECONDS, so a log shows that work goes on without filling up. Nothing in the
    first LINE_SECONDS: a short run, or one refused at the start (bad input), leaves only its
    summary or its one error line."""

    def __init__(self, command: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.command = command
        self.clock = clock
        self.stage: str | None = None
        self.shown_at = 0.0
        self.quiet_until = clock() + LINE_SECONDS

    def show(self, stage: str, text: str) -> None:
        now = self.clock()
        if now < self.quiet_until or (stage == self.stage and now - self.shown_at < LINE_SECONDS):
            return
        self.stage, self.shown_at = stage, now
        print(f"{self.command}: {text}", file=sys.stderr, flush=True)

    def fraction(self, fraction: float, message: str) -> None:
        """A (fraction done, "stage: detail") report; the text before ": " names the stage."""
        self.show(message.split(": ", 1)[0], f"{message} ({fraction:.0%})")


def _log_lines(console: Console, command: str) -> ProgressLines | None:
    """Progress lines when stderr is a file and not --quiet (for a console that is no terminal,
    where a Rich bar shows nothing)."""
    if console.quiet or not stderr_is_a_log():
        return None
    return ProgressLines(command)


@contextmanager
def progress_bar(console: Console, title: str, command: str) -> Iterator[ProgressCallback]:
    """A progress bar driven by a (fraction done, message) callback; lines in a log."""
    if not console.is_terminal:
        lines = _log_lines(console, command)
        yield (lambda fraction, message: None) if lines is None else lines.fraction
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=1.0, message="")

        def update(fraction: float, message: str) -> None:
            progress.update(task, completed=fraction, message=message)

        yield update


def _shown(path: Path | str) -> str:
    """A path as Rich markup that prints literally."""
    return escape(str(path))


def _planned_on(console: Console, effects: EffectsRecord | None) -> None:
    """One line: the plan rests on the effects learned from a campaign log, or assumed ones."""
    if effects is None:
        console.print(f"[yellow]note:[/] {escape(ASSUMED_EFFECTS)}", soft_wrap=True)
    else:
        console.print(f"note: {escape(effects.planned_on())}", soft_wrap=True)


def train_summary(console: Console, summary: TrainSummary) -> None:
    # soft_wrap keeps long paths whole, so they can be copied from the terminal or a log.
    console.print(
        f"Data: [bold]{_shown(summary.data)}[/]   Models: [bold]{_shown(summary.models)}[/]",
        soft_wrap=True,
    )
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if summary.churn is not None:
        _churn_summary(console, summary.churn)
    if summary.policy is not None:
        if summary.state is not None:
            _state_lines(console, summary.state)
        _policy_summary(
            console, summary.policy, summary.policy_training_customers, summary.money_unit
        )
        _planned_on(console, summary.effects)
    if summary.effects is not None:
        _effects_summary(console, summary.effects, summary.money_unit)
    console.print(
        f"Model bundle written to [bold]{_shown(summary.models)}[/] in {summary.seconds:.1f} s.",
        soft_wrap=True,
    )


def _churn_summary(console: Console, churn: ChurnSummary) -> None:
    console.print(
        f"Churn model trained on {churn.rows:,} customers, churn rate {churn.churn_rate:.1%}, "
        f"{len(churn.features_used)} features."
    )
    for name, reason in churn.features_dropped:
        console.print(f"[yellow]note:[/] column '{escape(name)}' not used: {reason}")
    # One line each, whole at any width, so that the option at its end can be copied.
    for leak in churn.leaks:
        console.print(f"[bold red]warning:[/] {escape(leak.sentence())}", soft_wrap=True)
    for column in churn.sensitive:
        sentence = column.sentence(len(churn.features_used))
        console.print(f"[yellow]sensitive:[/] {escape(sentence)}", soft_wrap=True)

    candidates = Table(title="Tree depths and learning rates tried (cross-validated)")
    for header in ("depth", "learning rate", "trees", "ROC AUC", "log loss", ""):
        candidates.add_column(header, justify="right" if header else "left")
    for candidate in churn.candidates:
        candidates.add_row(
            str(candidate.depth),
            f"{candidate.learning_rate:g}",
            str(candidate.rounds),
            f"{candidate.roc_auc:.4f}",
            f"{candidate.log_loss:.4f}",
            "chosen" if candidate == churn.chosen else "",
        )
    console.print(candidates)

    metrics = Table(title=f"Churn model: out-of-fold metrics over {churn.rows:,} customers")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    metrics.add_column("reading")
    for key, (label, reading) in METRIC_READINGS.items():
        metrics.add_row(label, f"{churn.metrics[key]:.4f}", reading)
    console.print(metrics)


def _state_lines(console: Console, state: StateAssumptions) -> None:
    """Every assumption behind the policy's state, in few lines: a warning per column found by
    its name alone (one for all the services), one line for the other columns read under another
    name, one for the columns the scored file lacks, one for the defaults, and a loud one when
    money is in months of charge."""
    services = [role for role in state.matched if role in SERVICE_ROLES]
    for role in [role for role in state.matched if role not in SERVICE_ROLES]:
        console.print(
            f"[bold yellow]warning:[/] {role} <- '{escape(state.read_from[role])}' "
            f"(matched by name; pass --column {role}=... to confirm)",
            soft_wrap=True,
        )
    if services:  # one line for the services engagement is counted from
        names = ", ".join(f"'{escape(state.read_from[role])}'" for role in services)
        console.print(
            f"[bold yellow]warning:[/] engagement services <- {names} "
            f"(matched by name; pass --column {services[0]}=... to confirm)",
            soft_wrap=True,
        )
    named = [
        f"{role} <- '{escape(name)}'"
        for role, name in state.read_from.items()
        if role not in state.matched
    ]
    if named:
        console.print(f"[yellow]note:[/] state read from {', '.join(named)}", soft_wrap=True)
    if state.missing:
        lacking = ", ".join(f"'{escape(name)}' ({role})" for role, name in state.missing.items())
        console.print(
            f"[bold yellow]warning:[/] columns the model reads are not in this file, their "
            f"defaults used: {lacking}",
            soft_wrap=True,
        )
    if state.defaulted:
        defaults = ", ".join(f"{role} {value}" for role, value in state.defaulted.items())
        console.print(f"[yellow]note:[/] state defaults (no column): {defaults}", soft_wrap=True)
    if state.charges_defaulted:
        console.print(
            "[bold red]warning:[/] no monthly charge column: every cost, value and gain is in "
            "months of charge (name the column with `train --column monthly_charges=NAME`)",
            soft_wrap=True,
        )


def _policy_summary(
    console: Console, evaluation: PolicyEvaluation, trained_on: int, unit: str = ""
) -> None:
    table = Table(
        title=f"Retention policies: exact expected profit per customer, "
        f"{evaluation.customers:,} held-out customers (DQN trained on {trained_on:,})"
    )
    table.add_column("policy")
    table.add_column(with_unit("value per customer", escape(unit)), justify="right")
    table.add_column(with_unit("vs no action", escape(unit)), justify="right")
    base = evaluation.values["no_action"]
    for name, value in sorted(evaluation.values.items(), key=lambda item: -item[1]):
        table.add_row(POLICY_LABELS.get(name, name), f"{value:,.2f}", f"{value - base:+,.2f}")
    console.print(table)
    console.print(
        "Gain ratio (DQN gain / optimal gain over no action): "
        f"[bold]{evaluation.gain_ratio:.3f}[/]; "
        f"DQN picks the optimal action for {evaluation.optimal_match:.1%} of customers."
    )


def _effects_summary(console: Console, effects: EffectsRecord, unit: str) -> None:
    """Where the learned effects come from, one table of each action's average effect, and
    the off-policy verdicts: the same sentences as the report's section."""
    names = effects.action_names
    for sentence in source_sentences(effects, names):
        if sentence.startswith("Warning: "):
            sentence = f"[bold yellow]warning:[/] {escape(sentence.removeprefix('Warning: '))}"
        else:
            sentence = escape(sentence)
        console.print(sentence, soft_wrap=True)
    table = Table(title="Action effects against no action (AIPW, 95% intervals)")
    words = (SUMMARY_HEADERS[0], SUMMARY_HEADERS[-1])
    for header in SUMMARY_HEADERS:
        table.add_column(header, justify="left" if header in words else "right")
    for row in summary_effect_rows(effects, names):
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    for sentence in comparison_sentences(effects, unit):
        console.print(escape(sentence), soft_wrap=True)


# Files smaller than this score in about a second: no progress bar for them.
PROGRESS_MIN_BYTES = 20 * 1024 * 1024


@contextmanager
def row_counter(
    console: Console, data: Path, title: str, command: str
) -> Iterator[Callable[[int], None] | None]:
    """A live count of rows done, for inputs large enough to wait for; lines in a log."""
    if not console.is_terminal:
        lines = _log_lines(console, command)
        if lines is None:
            yield None
            return
        lines.show("reading", f"reading {data.name}")
        yield lambda rows: lines.show("rows", f"{rows:,} rows")
        return
    if not data.is_file() or data.stat().st_size < PROGRESS_MIN_BYTES:
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} customers"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(title, total=None)
        yield lambda rows: progress.update(task, completed=rows)


def _drift_warnings(console: Console, summary: ScoreSummary) -> None:
    """One line naming the columns that drifted from training, one naming the state inputs
    outside the training range; nothing when there are none."""
    shifted = drifted(summary.drift)
    if shifted:
        named = ", ".join(f"{escape(name)} (PSI {psi:.2f})" for name, psi in shifted)
        console.print(
            f"[bold yellow]warning:[/] columns unlike the training data (PSI above "
            f"{PSI_WARNING:g}, largest first): {named}; check their units and source",
            soft_wrap=True,
        )
    outside = [
        f"{escape(name.removeprefix(STATE_PREFIX))} ({count:,} customers)"
        for name, count in summary.out_of_range.items()
        if count
    ]
    if outside:
        console.print(
            f"[bold yellow]warning:[/] state inputs outside the training range: "
            f"{', '.join(outside)}; the policy never saw such values",
            soft_wrap=True,
        )


def score_summary(console: Console, summary: ScoreSummary) -> None:
    customers = max(summary.customers, 1)
    console.print(
        f"Scored [bold]{summary.customers:,}[/] customers from [bold]{_shown(summary.data)}[/]"
        f" with [bold]{_shown(summary.models)}[/] in {summary.seconds:.1f} s; mean churn risk "
        f"{summary.probability_sum / customers:.1%}.",
        soft_wrap=True,
    )
    for name, count in summary.unseen_levels.items():
        console.print(
            f"[yellow]note:[/] {count:,} customers have a '{escape(name)}' value not seen in "
            "training (scored as missing)"
        )
    _drift_warnings(console, summary)
    if summary.state is not None:
        _state_lines(console, summary.state)
    _planned_on(console, summary.effects)

    risk = Table(title="Risk distribution")
    risk.add_column("risk level")
    risk.add_column("rule")
    risk.add_column("customers", justify="right")
    risk.add_column("share", justify="right")
    settings = summary.settings
    rules = {
        "HIGH": f"> {settings.high:g}",
        "MEDIUM": f"> {settings.medium:g}",
        "LOW": f"<= {settings.medium:g}",
    }
    for level, count in summary.risk_counts.items():
        risk.add_row(level, rules[level], f"{count:,}", f"{count / customers:.1%}")
    console.print(risk)

    plan = Table(title="Action plan")
    plan.add_column("action")
    unit = escape(summary.money_unit)
    plan.add_column("customers", justify="right")
    for header in ("total cost", "expected gain"):
        plan.add_column(with_unit(header, unit), justify="right")
    for index, name in enumerate(summary.action_names):
        plan.add_row(
            name,
            f"{int(summary.action_counts[index]):,}",
            f"{summary.action_costs[index]:,.2f}",
            f"{summary.action_gains[index]:,.2f}",
        )
    plan.add_row(
        "[bold]total[/]",
        f"{summary.customers:,}",
        f"{summary.action_costs.sum():,.2f}",
        f"{summary.action_gains.sum():,.2f}",
    )
    console.print(plan)
    if summary.budget is not None:
        console.print(
            f"Budget{f' ({unit})' if unit else ''} {summary.budget:,.2f}: "
            f"spent {summary.action_costs.sum():,.2f}, buying an "
            f"expected gain of {summary.action_gains.sum():,.2f} (without a budget the plan would "
            f"cost {summary.unconstrained_cost:,.2f} for {summary.unconstrained_gain:,.2f})."
        )
    if summary.driver_weight is not None:
        drivers = Table(title="Top churn drivers (mean absolute contribution to the log-odds)")
        drivers.add_column("feature")
        drivers.add_column("weight", justify="right")
        order = summary.driver_weight.argsort()[::-1][:5]
        for index in order:
            weight = summary.driver_weight[index] / customers
            drivers.add_row(escape(summary.feature_names[index]), f"{weight:.3f}")
        console.print(drivers)
    if summary.explanations is not None:
        console.print(escape(summary.explanations), soft_wrap=True)
    written = (
        "standard output (no run record)"
        if summary.output == STDOUT
        else f"[bold]{_shown(summary.output)}[/]"
    )
    console.print(f"Results written to {written}", soft_wrap=True)

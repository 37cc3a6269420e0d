"""Rich output for the terminal: progress bars and summary tables. Only the CLI calls this."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aura_sentinel.churn import Progress as ProgressCallback
from aura_sentinel.pipeline import ScoreSummary
from aura_sentinel.retention.evaluation import POLICY_LABELS, PolicyEvaluation

if TYPE_CHECKING:  # training imports torch, which `score` loads off the main thread
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


@contextmanager
def progress_bar(console: Console, title: str) -> Iterator[ProgressCallback]:
    """A progress bar driven by a (fraction done, message) callback."""
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
        _policy_summary(console, summary.policy, summary.policy_training_customers)
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
    for name, auc in churn.leaks:
        console.print(
            f"[bold red]warning:[/] column '{escape(name)}' alone separates the outcome "
            f"(ROC AUC {auc:.3f}): it may be known only after churn; if so, "
            f"retrain with --exclude '{escape(name)}'"
        )

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


def _policy_summary(console: Console, evaluation: PolicyEvaluation, trained_on: int) -> None:
    table = Table(
        title=f"Retention policies: exact expected profit per customer, "
        f"{evaluation.customers:,} held-out customers (DQN trained on {trained_on:,})"
    )
    table.add_column("policy")
    table.add_column("value per customer", justify="right")
    table.add_column("vs no action", justify="right")
    base = evaluation.values["no_action"]
    for name, value in sorted(evaluation.values.items(), key=lambda item: -item[1]):
        table.add_row(POLICY_LABELS.get(name, name), f"{value:,.2f}", f"{value - base:+,.2f}")
    console.print(table)
    console.print(
        "Gain ratio (DQN gain / optimal gain over no action): "
        f"[bold]{evaluation.gain_ratio:.3f}[/]; "
        f"DQN picks the optimal action for {evaluation.optimal_match:.1%} of customers."
    )


# Files smaller than this score in about a second: no progress bar for them.
PROGRESS_MIN_BYTES = 20 * 1024 * 1024


@contextmanager
def row_counter(console: Console, data: Path, title: str) -> Iterator[Callable[[int], None] | None]:
    """A live count of rows done, for inputs large enough to wait for."""
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
    for header in ("customers", "total cost", "expected gain"):
        plan.add_column(header, justify="right")
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
            f"Budget {summary.budget:,.2f}: spent {summary.action_costs.sum():,.2f}, buying an "
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
    console.print(f"Results written to [bold]{_shown(summary.output)}[/]", soft_wrap=True)

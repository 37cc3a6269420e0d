"""Rich output for the terminal: progress bars and summary tables. Only the CLI calls this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aura_sentinel.churn import Progress as ProgressCallback
from aura_sentinel.retention.evaluation import PolicyEvaluation
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


POLICY_LABELS = {
    "optimal": "optimum (exact, the examiner)",
    "dqn": "DQN (the trained policy)",
    "no_action": "no action",
    "always_email": "always email",
    "risk_rule": "risk rule (>0.7 call, >0.4 10% off, else email)",
    "myopic": "myopic (best one-month gain)",
}


def train_summary(console: Console, summary: TrainSummary) -> None:
    console.print(f"Data: [bold]{summary.data}[/]   Models: [bold]{summary.models}[/]")
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    if summary.churn is not None:
        _churn_summary(console, summary.churn)
    if summary.policy is not None:
        _policy_summary(console, summary.policy, summary.policy_training_customers)
    console.print(f"Model bundle written to [bold]{summary.models}[/] in {summary.seconds:.1f} s.")


def _churn_summary(console: Console, churn: ChurnSummary) -> None:
    console.print(
        f"Churn model trained on {churn.rows:,} customers, churn rate {churn.churn_rate:.1%}, "
        f"{len(churn.features_used)} features."
    )
    for name, reason in churn.features_dropped:
        console.print(f"[yellow]note:[/] column '{name}' not used: {reason}")
    for name, auc in churn.leaks:
        console.print(
            f"[bold red]warning:[/] column '{name}' alone separates the outcome "
            f"(ROC AUC {auc:.3f}): it may be known only after churn; if so, "
            f"retrain with --exclude '{name}'"
        )

    candidates = Table(title="Tree depths tried (cross-validated)")
    for header in ("depth", "trees", "ROC AUC", "log loss", ""):
        candidates.add_column(header, justify="right" if header else "left")
    for candidate in churn.candidates:
        candidates.add_row(
            str(candidate.depth),
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

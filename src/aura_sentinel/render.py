"""Rich output for the terminal: progress bars and summary tables. Only the CLI calls this."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aura_sentinel.churn import Progress as ProgressCallback
from aura_sentinel.training import TrainSummary

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


def train_summary(console: Console, summary: TrainSummary) -> None:
    console.print(
        f"Trained on [bold]{summary.data}[/]: {summary.rows:,} customers, "
        f"churn rate {summary.churn_rate:.1%}, {len(summary.features_used)} features, "
        f"in {summary.seconds:.1f} s."
    )
    for note in summary.notes:
        console.print(f"[yellow]note:[/] {note}")
    for name, reason in summary.features_dropped:
        console.print(f"[yellow]note:[/] column '{name}' not used: {reason}")
    for name, auc in summary.leaks:
        console.print(
            f"[bold red]warning:[/] column '{name}' alone separates the outcome "
            f"(ROC AUC {auc:.3f}): it may be known only after churn; if so, "
            f"retrain with --exclude '{name}'"
        )

    candidates = Table(title="Tree depths tried (cross-validated)")
    for header in ("depth", "trees", "ROC AUC", "log loss", ""):
        candidates.add_column(header, justify="right" if header else "left")
    for candidate in summary.candidates:
        mark = "chosen" if candidate == summary.chosen else ""
        candidates.add_row(
            str(candidate.depth),
            str(candidate.rounds),
            f"{candidate.roc_auc:.4f}",
            f"{candidate.log_loss:.4f}",
            mark,
        )
    console.print(candidates)

    metrics = Table(title=f"Churn model: out-of-fold metrics over {summary.rows:,} customers")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    metrics.add_column("reading")
    for key, (label, reading) in METRIC_READINGS.items():
        metrics.add_row(label, f"{summary.metrics[key]:.4f}", reading)
    console.print(metrics)
    console.print(f"Model bundle written to [bold]{summary.models}[/]")

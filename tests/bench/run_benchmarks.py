"""Benchmarks: `nox -s bench` (or `python tests/bench/run_benchmarks.py`). Prints one table.

Timings are taken in one run next to a reference measured in the same run (a bare import of the
heavy libraries), because the machine is shared and absolute seconds are noisy. Each command
runs in a fresh process, as a user would run it; the best of a few repeats is kept.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO.parent / "shared" / "data" / "telco-customer-churn.csv"


@dataclass
class Result:
    name: str
    measured: str
    goal: str
    met: bool


def best_seconds(command: Sequence[str], repeats: int = 3, cwd: Path | None = None) -> float:
    """Fastest wall time of `command` over `repeats` fresh processes."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=cwd)
        timings.append(time.perf_counter() - started)
    return min(timings)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "aura_sentinel", *args]


def bench_import() -> float:
    return best_seconds([sys.executable, "-c", "import torch, xgboost, polars"], repeats=5)


def bench_train(workdir: Path, import_seconds: float) -> list[Result]:
    """Churn model alone (--skip-policy), then the policy alone (--policy-only) on its bundle."""
    results = []
    datasets = {"shipped": REPO / "data" / "dataset.xls"}
    if TELCO.is_file():
        datasets["real Telco"] = TELCO
    for label, data in datasets.items():
        models = workdir / f"models_{label.replace(' ', '_')}"
        churn = best_seconds(cli("train", str(data), "--models", str(models), "--skip-policy"), 2)
        results.append(
            Result(
                f"train --skip-policy, 7,043 {label} rows (5 folds x 5 depths)",
                f"{churn:.1f} s = {churn / import_seconds:.1f}x import",
                "< 30 s",
                churn < 30,
            )
        )
        policy = best_seconds(cli("train", str(data), "--models", str(models), "--policy-only"), 1)
        results.append(
            Result(
                f"train --policy-only, 7,043 {label} rows (DQN + exact evaluation)",
                f"{policy:.1f} s = {policy / import_seconds:.1f}x import",
                "< 60 s",
                policy < 60,
            )
        )
    return results


def bench_demo_data(workdir: Path) -> list[Result]:
    results = []
    baseline = best_seconds([sys.executable, "-c", "import polars, numpy"], repeats=3)
    for rows in (1_000_000, 4_000_000):
        out = workdir / f"demo_{rows}.parquet"
        seconds = best_seconds(cli("demo-data", "--rows", str(rows), "--out", str(out)), 2)
        generate = seconds - baseline
        results.append(
            Result(
                f"demo-data, {rows:,} rows to Parquet",
                f"{seconds:.1f} s ({rows / generate / 1e6:.2f} M rows/s after imports)",
                "a few seconds per million",
                generate / (rows / 1e6) < 5,
            )
        )
    return results


def main() -> None:
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        import_seconds = bench_import()
        results = [
            Result("python -c 'import torch, xgboost, polars'", f"{import_seconds:.2f} s", "", True)
        ]
        results += bench_train(workdir, import_seconds)
        results += bench_demo_data(workdir)
    table = Table(title="aura-sentinel benchmarks (best of repeats, fresh processes)")
    for header in ("benchmark", "measured", "goal", "met"):
        table.add_column(header)
    for result in results:
        met = "" if not result.goal else ("yes" if result.met else "[red]NO[/]")
        table.add_row(result.name, result.measured, result.goal, met)
    console.print(table)


if __name__ == "__main__":
    main()

"""Benchmarks: `nox -s bench` (or `python tests/bench/run_benchmarks.py`). Prints one table.

Timings are taken in one run next to a reference measured in the same run (a bare import of the
heavy libraries), because the machine is shared and absolute seconds are noisy. Each command
runs in a fresh process, as a user would run it; the best of a few repeats is kept.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
                f"train --skip-policy, 7,043 {label} rows (5 folds x 5 depths x 3 learning rates)",
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


def peak_rss_and_seconds(command: Sequence[str], repeats: int = 1) -> tuple[float, float]:
    """(peak resident memory in MB, wall seconds) of `command`: the highest peak and the
    fastest time over `repeats` fresh runs."""
    probe = (
        "import resource, subprocess, sys, time; started = time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter() - started, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    runs = []
    for _ in range(repeats):
        output = subprocess.run(
            [sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True
        ).stdout.split()
        runs.append((float(output[1]), float(output[0])))
    return max(peak for peak, _ in runs), min(seconds for _, seconds in runs)


def bench_score_shipped(import_seconds: float) -> list[Result]:
    shipped = REPO / "data" / "dataset.xls"
    out = Path(tempfile.mkdtemp()) / "results.csv"
    seconds = best_seconds(cli("score", str(shipped), "--models", str(REPO / "models"),
                               "--out", str(out)), repeats=5)  # fmt: skip
    ratio = seconds / import_seconds
    help_seconds = best_seconds(cli("--help"), repeats=5)
    return [
        Result(
            "score, 7,043 shipped rows, explanations on",
            f"{seconds:.2f} s = {ratio:.2f}x import",
            "<= 1.5x import (moonshot 1.3x)",
            ratio <= 1.5,
        ),
        Result("aura-sentinel --help", f"{help_seconds:.2f} s", "< 0.4 s", help_seconds < 0.4),
    ]


def bench_score_large(workdir: Path) -> list[Result]:
    results = []
    models = str(REPO / "models")
    peaks = {}
    speed = 0.0
    for rows in (1_000_000, 4_000_000):
        data = workdir / f"customers_{rows}.parquet"
        subprocess.run(cli("demo-data", "--rows", str(rows), "--out", str(data)), check=True,
                       capture_output=True)  # fmt: skip
        out = workdir / f"results_{rows}.parquet"
        command = cli("score", str(data), "--models", models, "--out", str(out), "--no-explain")
        peak, seconds = peak_rss_and_seconds(command, repeats=2 if rows == 1_000_000 else 1)
        peaks[rows] = peak
        speed = speed or rows / seconds
        results.append(
            Result(
                f"score --no-explain, {rows:,} rows, Parquet in and out",
                f"{rows / seconds:,.0f} rows/s, peak RSS {peak:,.0f} MB",
                ">= 250,000 rows/s at 1M" if rows == 1_000_000 else "",
                rows / seconds >= 250_000 if rows == 1_000_000 else True,
            )
        )
    growth = peaks[4_000_000] / peaks[1_000_000]
    results.append(
        Result("peak RSS, 4M rows / 1M rows", f"{growth:.2f}x", "<= 1.25x", growth <= 1.25)
    )
    csv_data = workdir / "customers_1000000.csv"
    subprocess.run(cli("demo-data", "--rows", "1000000", "--out", str(csv_data)), check=True,
                   capture_output=True)  # fmt: skip
    _, seconds = peak_rss_and_seconds(
        cli("score", str(csv_data), "--models", models, "--out", str(workdir / "r.csv"),
            "--no-explain")
    )  # fmt: skip
    results.append(
        Result(
            "score --no-explain, 1,000,000 rows, CSV in and out",
            f"{1e6 / seconds:,.0f} rows/s",
            "",
            True,
        )
    )
    results += bench_explanations(workdir / "customers_1000000.parquet", models, 1e6 / speed)
    results.append(bench_report(workdir / "explained.parquet", models))
    return results


def bench_report(scored: Path, models: str) -> Result:
    """`report` on the results of a million customers (with drivers): time and memory."""
    html = scored.parent / "report.html"
    peak, seconds = peak_rss_and_seconds(
        cli("report", str(scored), "--models", models, "--html", str(html), "--quiet")
    )
    size = html.stat().st_size / 1024
    return Result(
        "report on 1,000,000 scored customers (Parquet)",
        f"{seconds:.1f} s, peak RSS {peak:,.0f} MB, HTML {size:,.0f} KB",
        "",
        True,
    )


def bench_explanations(data: Path, models: str, unexplained_seconds: float) -> list[Result]:
    """The shipped model's explanations at a million rows: scoring with them against scoring
    `--no-explain` (measured just before, same file), and against XGBoost's own TreeSHAP call
    alone on the same matrix."""
    out = data.parent / "explained.parquet"
    _, seconds = peak_rss_and_seconds(
        cli("score", str(data), "--models", models, "--out", str(out)), repeats=2
    )
    bare = min(
        float(subprocess.run([sys.executable, "-c", BARE_CONTRIBS, str(data), models],
                             check=True, capture_output=True, text=True).stdout)
        for _ in range(2)
    )  # fmt: skip
    ratio = seconds / unexplained_seconds
    return [
        Result(
            "score with explanations, 1,000,000 rows, vs --no-explain (shipped model)",
            f"{seconds:.1f} s vs {unexplained_seconds:.1f} s = +{ratio - 1:.0%} "
            f"({1e6 / seconds:,.0f} rows/s)",
            "<= +15%",
            ratio <= 1.15,
        ),
        Result(
            "  XGBoost's pred_contribs alone on the same matrix",
            f"{bare:.1f} s",
            "",
            True,
        ),
    ]


# XGBoost's exact contributions alone (TreeSHAP), same model, same matrix.
BARE_CONTRIBS = """
import sys, time
from pathlib import Path
import polars as pl, xgboost as xgb
from aura_sentinel.bundle import load_bundle
bundle = load_bundle(Path(sys.argv[2]))
matrix = bundle.spec.matrix(pl.read_parquet(sys.argv[1]), "bench")
data = xgb.DMatrix(matrix, feature_types=bundle.spec.xgboost_types, enable_categorical=True)
started = time.perf_counter()
bundle.booster.predict(data, pred_contribs=True)
print(time.perf_counter() - started)
"""


def bench_treeshap() -> list[Result]:
    """Contributions alone: the table explainer against XGBoost's pred_contribs on the same
    200,000-row float32 matrix, for models of depth 2, 3, 4 and 6 (20 features with
    interactions and missing values), in this process."""
    import numpy as np
    import xgboost as xgb

    from aura_sentinel.threads import torch_threads
    from aura_sentinel.treeshap import TableExplainer, build_explainer

    rng = np.random.default_rng(7)
    features, rows = 20, 200_000
    train = _interacting_rows(rng, 100_000, features)
    outcome = _interacting_outcome(rng, train)
    matrix = _interacting_rows(rng, rows, features)
    results = []
    for depth, trees in ((2, 400), (3, 300), (4, 250), (6, 150)):
        params = {"objective": "binary:logistic", "max_depth": depth, "eta": 0.1,
                  "tree_method": "hist", "nthread": 2, "seed": 0}  # fmt: skip
        booster = xgb.train(params, xgb.DMatrix(train, outcome), num_boost_round=trees)
        explainer = build_explainer(booster, ["q"] * features)
        assert isinstance(explainer, TableExplainer), explainer
        started = time.perf_counter()
        exact = booster.predict(xgb.DMatrix(matrix, nthread=2), pred_contribs=True)
        xgboost_rate = rows / (time.perf_counter() - started)
        rates = {}
        for threads in (1, 2):
            with torch_threads(threads):
                started = time.perf_counter()
                ours = explainer.contributions(matrix)
                rates[threads] = rows / (time.perf_counter() - started)
        error = float(np.abs(ours - exact).max())
        ratio = rates[1] / xgboost_rate  # `score` sums the tables on one thread
        results.append(
            Result(
                f"contributions, depth {depth}, {trees} trees, 200,000 rows: tables (1 thread) vs "
                "pred_contribs (2 threads)",
                f"{rates[1]:,.0f} vs {xgboost_rate:,.0f} rows/s = {ratio:.0f}x (tables on 2 "
                f"threads: {rates[2]:,.0f}); tables {explainer.table_bytes / 2**20:,.1f} MB, "
                f"built in {explainer.build_seconds:.1f} s; max |diff| {error:.1e}",
                ">= 20x (moonshot 50x), |diff| <= 1e-5",
                ratio >= 20 and error <= 1e-5,
            )
        )
    return results


def _interacting_rows(rng: Any, rows: int, features: int) -> Any:
    import numpy as np

    matrix = rng.normal(size=(rows, features)).astype(np.float32)
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    return matrix


def _interacting_outcome(rng: Any, matrix: Any) -> Any:
    import numpy as np

    x = np.nan_to_num(matrix)
    logit = (x[:, 0] * x[:, 1] + np.sin(3 * x[:, 2]) + (x[:, 3] > 0) * x[:, 4]
             + 0.5 * x[:, 5] * x[:, 6] * x[:, 7] + 0.3 * x[:, 8:14].sum(axis=1))  # fmt: skip
    return (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(np.float32)


def bench_deep_score(workdir: Path) -> list[Result]:
    """`score` on a million customers with a depth-4 churn model: with explanations against
    `--no-explain`. `train` picks the depth by cross-validation (depth 1 on the demo data), so
    the benchmark trains its bundle with the search narrowed to depth 4."""
    data = workdir / "deep_train.parquet"
    customers = workdir / "deep_customers.parquet"
    subprocess.run(cli("demo-data", "--rows", "50000", "--seed", "3", "--out", str(data)),
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(cli("demo-data", "--rows", "1000000", "--out", str(customers)), check=True,
                   capture_output=True)  # fmt: skip
    models, config = workdir / "deep_models", workdir / "deep_policy.toml"
    config.write_text("[dqn]\niterations = 1000\n")  # the policy is not what is measured
    subprocess.run([sys.executable, "-c", DEPTH_FOUR_TRAIN, str(data), str(models), str(config)],
                   check=True, capture_output=True)  # fmt: skip
    from aura_sentinel.bundle import load_bundle

    booster = load_bundle(models).booster
    depth = _tree_depth(booster)
    seconds = {}
    for label, extra in (("explained", []), ("no-explain", ["--no-explain"])):
        out = workdir / f"deep_results_{label}.parquet"
        command = cli("score", str(customers), "--models", str(models), "--out", str(out), *extra)
        _, seconds[label] = peak_rss_and_seconds(command, repeats=2)
    ratio = seconds["explained"] / seconds["no-explain"]
    return [
        Result(
            f"score, 1,000,000 rows, depth-{depth} model of {booster.num_boosted_rounds()} trees:"
            " with explanations vs --no-explain",
            f"{seconds['explained']:.1f} s vs {seconds['no-explain']:.1f} s = {ratio:.2f}x",
            "<= 1.5x",
            ratio <= 1.5,
        )
    ]


def _tree_depth(booster: Any) -> int:
    import json

    trees = json.loads(booster.save_raw(raw_format="json"))["learner"]["gradient_booster"]
    deepest = 0
    for tree in trees["model"]["trees"]:
        depth = {0: 0}
        for node, (left, right) in enumerate(zip(tree["left_children"], tree["right_children"],
                                                 strict=True)):  # fmt: skip
            if left >= 0:
                depth[left] = depth[right] = depth[node] + 1
        deepest = max(deepest, max(depth.values()))
    return deepest


# `train` with its depth search narrowed to 4 (the search would pick depth 1 on demo data).
DEPTH_FOUR_TRAIN = """
import functools, sys
import aura_sentinel.churn as churn
from aura_sentinel.cli import app
churn.BoostingSettings = functools.partial(churn.BoostingSettings, depths=(4,))
app(["train", sys.argv[1], "--models", sys.argv[2], "--policy-config", sys.argv[3]],
    standalone_mode=False)
"""


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


def bench_ray(workdir: Path) -> list[Result]:
    """10M generated customers in 10 Parquet files: Ray Data against the single process, with
    the peak memory of each Ray worker (sampled from /proc while the command runs)."""
    rows, parts = 10_000_000, 10
    whole = workdir / "ten_million.parquet"  # one draw, so the ids are unique across the parts
    subprocess.run(cli("demo-data", "--rows", str(rows), "--out", str(whole)), check=True,
                   capture_output=True)  # fmt: skip
    folder = workdir / "ten_million"
    folder.mkdir()
    subprocess.run([sys.executable, "-c", "import polars as pl, sys; "
                    "whole, folder, parts = sys.argv[1], sys.argv[2], int(sys.argv[3]); "
                    "rows = pl.scan_parquet(whole).select(pl.len()).collect().item(); "
                    "[pl.scan_parquet(whole).slice(part * rows // parts, rows // parts)"
                    ".sink_parquet(f'{folder}/part-{part}.parquet') for part in range(parts)]",
                    str(whole), str(folder), str(parts)], check=True)  # fmt: skip
    models = str(REPO / "models")
    budget = ("--budget", "1000000")
    results = []
    for name, command in (
        ("single process", cli("score", str(whole), "--models", models, "--out",
                               str(workdir / "single.parquet"), "--no-explain", "--quiet")),
        ("Ray Data, local, 2 CPUs", cli("score", str(folder), "--engine", "ray", "--models",
                                        models, "--out", str(workdir / "ray_results"),
                                        "--no-explain", "--quiet")),
        ("single process, --budget 1,000,000", cli("score", str(whole), "--models", models,
                                                   "--out", str(workdir / "single_b.parquet"),
                                                   "--no-explain", "--quiet", *budget)),
        ("Ray Data, local, 2 CPUs, --budget 1,000,000", cli("score", str(folder), "--engine",
                                                            "ray", "--models", models, "--out",
                                                            str(workdir / "ray_budget"),
                                                            "--no-explain", "--quiet", *budget)),
    ):  # fmt: skip
        with WorkerMemory() as workers:
            peak, seconds = peak_rss_and_seconds(command)
        memory = f"peak RSS of the command {peak:,.0f} MB"
        if workers.peaks:
            memory += f", of each worker up to {max(workers.peaks.values()):,.0f} MB"
            memory += f" ({len(workers.peaks)} workers)"
        results.append(
            Result(
                f"score --no-explain, 10,000,000 rows, {name}",
                f"{rows / seconds:,.0f} rows/s, {memory}",
                "",
                True,
            )
        )
    return results


class WorkerMemory:
    """Peak resident memory (VmHWM) of every Ray worker process, sampled in the background."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(
                        line.split(":", 1)
                        for line in status.read_text().splitlines()
                        if ":" in line
                    )
                    title = (status.parent / "cmdline").read_bytes().split(b"\0")[0]
                except OSError:
                    continue
                if title.startswith(b"ray::") and "VmHWM" in fields:
                    megabytes = int(fields["VmHWM"].split()[0]) / 1024
                    pid = int(status.parent.name)
                    self.peaks[pid] = max(self.peaks.get(pid, 0.0), megabytes)


def bench_effects(workdir: Path) -> list[Result]:
    """`train --campaigns` on a 50,000-row synthetic log with known effects: its cost over the
    churn model alone, and the plan's quality on a fresh log, valued under the true effects."""
    sys.path.insert(0, str(REPO / "tests"))
    import numpy as np
    from test_effects_quality import LOG_ROWS, fresh_customers, spearman

    from aura_sentinel.demo import generate_customers
    from aura_sentinel.demo_campaigns import generate_campaign_log
    from aura_sentinel.effects.planning import treat_the_riskiest

    generate_campaign_log(LOG_ROWS, seed=1)[0].write_parquet(workdir / "log.parquet")
    generate_customers(7_043, seed=3).write_parquet(workdir / "customers.parquet")
    (workdir / "horizon.toml").write_text("[simulator]\ncampaign_horizon_months = 1\n")
    common = ["train", str(workdir / "customers.parquet"), "--skip-policy", "--threads", "2"]
    churn_only = best_seconds(cli(*common, "--models", str(workdir / "m0")), repeats=1)
    with_log = best_seconds(
        cli(
            *common,
            "--campaigns", str(workdir / "log.parquet"),
            "--policy-config", str(workdir / "horizon.toml"),
            "--models", str(workdir / "m1"),
        ),
        repeats=1,
    )  # fmt: skip
    fresh = fresh_customers(workdir / "m1")
    values, plan = fresh["true_values"], fresh["plan"]
    rows = np.arange(plan.size)

    def gain(policy: np.ndarray) -> float:
        return float(np.mean(values[rows, policy] - values[:, 0]))

    oracle = float(np.mean(values.max(axis=1) - values[:, 0]))
    singles = {action: gain(np.full(plan.size, action)) for action in range(1, 6)}
    best = max(singles, key=lambda action: singles[action])
    riskiest = gain(treat_the_riskiest(fresh["risk"], int(np.sum(plan != 0)), best))
    truth, estimated = fresh["true_churn"], fresh["estimated"]
    correlations = [
        spearman(estimated[:, a] - estimated[:, 0], truth[:, a] - truth[:, 0]) for a in range(1, 6)
    ]
    shown = ", ".join(f"{value:.2f}" for value in correlations)
    return [
        Result(
            "train --campaigns 50,000-row log (--skip-policy), over the churn model alone",
            f"{with_log:.1f} s vs {churn_only:.1f} s",
            "",
            True,
        ),
        Result(
            "per-customer effects vs truth, Spearman by action 1-5",
            shown,
            ">= 0.6",
            min(correlations) >= 0.6,
        ),
        Result(
            "recommended one-month gain / one-step oracle (fresh 20,000 customers)",
            f"{gain(plan) / oracle:.2f} ({gain(plan):.2f} of {oracle:.2f})",
            ">= 0.8",
            gain(plan) >= 0.8 * oracle,
        ),
        Result(
            "recommended gain vs treat the riskiest / best single action",
            f"{gain(plan):.2f} vs {riskiest:.2f} / {singles[best]:.2f}",
            "above both",
            gain(plan) > max(riskiest, singles[best]),
        ),
    ]


def bench_score_learned(workdir: Path) -> list[Result]:
    """`score --no-explain` on a million customers with a bundle whose policy plans on effects
    learned from a campaign log, against a bundle on assumed effects trained on the same log
    (its action and propensity columns left out), in the same run."""
    log, data = workdir / "score_learned_log.parquet", workdir / "score_learned_data.parquet"
    subprocess.run(cli("demo-data", "--campaigns", "--rows", "20000", "--seed", "1", "--out",
                       str(log)), check=True, capture_output=True)  # fmt: skip
    subprocess.run(cli("demo-data", "--rows", "1000000", "--out", str(data)), check=True,
                   capture_output=True)  # fmt: skip
    config = workdir / "score_learned.toml"
    config.write_text("[simulator]\ncampaign_horizon_months = 1\n\n[dqn]\niterations = 1000\n")
    common = ["train", str(log), "--policy-config", str(config), "--threads", "2"]
    bundles = {
        "learned": [*common, "--campaigns", str(log)],
        "assumed": [*common, "--exclude", "action", "--exclude", "propensity"],
    }
    speed = {}
    for label, train in bundles.items():
        models = workdir / f"score_models_{label}"
        subprocess.run(cli(*train, "--models", str(models)), check=True, capture_output=True)
        out = workdir / f"score_results_{label}.parquet"
        command = cli("score", str(data), "--models", str(models), "--out", str(out),
                      "--no-explain")  # fmt: skip
        _, seconds = peak_rss_and_seconds(command, repeats=2)
        speed[label] = 1e6 / seconds
    ratio = speed["learned"] / speed["assumed"]
    from aura_sentinel.bundle import effect_learner, load_bundle

    bundle = load_bundle(workdir / "score_models_learned")
    learner, effects = effect_learner(bundle), bundle.manifest.effects
    assert learner is not None and effects is not None
    trees = [booster.num_boosted_rounds() for booster in learner.boosters]
    return [
        Result(
            "score --no-explain, 1,000,000 rows, learned effects vs assumed",
            f"{speed['learned']:,.0f} vs {speed['assumed']:,.0f} rows/s = {ratio:.2f}x",
            ">= 250,000 rows/s",
            speed["learned"] >= 250_000,
        ),
        Result(
            "the effect models scored per customer (one XGBoost call each)",
            f"{learner.learner}-learner, {len(trees)} models of {', '.join(map(str, trees))} "
            f"trees; churn model {bundle.booster.num_boosted_rounds()}",
            "<= one per action",
            len(trees) <= sum(effects.tried),
        ),
    ]


def bench_learned(workdir: Path) -> list[Result]:
    """The DQN trained on effects learned from a 50,000-row synthetic log, valued exactly over
    many months under the TRUE effects on fresh customers, against the true optimum (the gain
    over no action); and the DQN trained on the truth itself, for what learning costs.

    The true state: the demo's true 12-month risk as the churn probability, and each action's
    true share of the monthly hazard (`true_churn` -> `hazard_effects` -> `with_learned_effects`).
    The learned policy reads its own state for the same customers (the churn model's score and
    the learned effects) and its actions are valued on the true one."""
    sys.path.insert(0, str(REPO / "tests"))
    import numpy as np
    import polars as pl
    from test_learned_policy import bundle_plan, one_month_campaign_settings

    from aura_sentinel.bundle import load_bundle
    from aura_sentinel.demo import generate_customers
    from aura_sentinel.demo_campaigns import (
        baseline_churn_probability,
        generate_campaign_log,
        true_churn,
    )
    from aura_sentinel.effects.calibration import hazard_effects
    from aura_sentinel.retention.config import DQNConfig, simulator_for
    from aura_sentinel.retention.dqn import greedy_actions, train_dqn
    from aura_sentinel.retention.evaluation import always
    from aura_sentinel.retention.oracle import (
        at_own_state,
        evaluate_policy,
        evaluate_table,
        optimal_values,
        policy_table,
    )
    from aura_sentinel.retention.state import build_state, with_learned_effects
    from aura_sentinel.threads import torch_threads

    settings = one_month_campaign_settings(DQNConfig().iterations)
    generate_campaign_log(50_000, seed=1)[0].write_parquet(workdir / "learned_log.parquet")
    training = generate_customers(7_043, seed=3)
    training.write_parquet(workdir / "learned_customers.parquet")
    (workdir / "learned.toml").write_text("[simulator]\ncampaign_horizon_months = 1\n")
    models = workdir / "learned_models"
    train_seconds = best_seconds(
        cli(
            "train", str(workdir / "learned_customers.parquet"),
            "--campaigns", str(workdir / "learned_log.parquet"),
            "--policy-config", str(workdir / "learned.toml"),
            "--models", str(models), "--threads", "2",
        ),
        repeats=1,
    )  # fmt: skip
    manifest = load_bundle(models).manifest
    evaluation = manifest.policy
    assert evaluation is not None

    def true_state(customers: pl.DataFrame) -> np.ndarray:
        state = build_state(
            customers,
            baseline_churn_probability(customers),
            settings.simulator.response_prior,
            manifest.state_sources,
        )
        churn = true_churn(customers)
        shares, _ = hazard_effects(churn[:, 0], churn, 1.0, settings.simulator.max_effect)
        return with_learned_effects(state, shares)

    truth = simulator_for(settings, (True,) * settings.catalog.size)
    fresh = generate_customers(5_000, seed=2).drop("Churn")
    state = true_state(fresh)
    started = time.perf_counter()
    optimal_table, optimal_table_values = optimal_values(truth, state)
    optimum = at_own_state(truth, state, optimal_table_values)
    nothing = evaluate_policy(truth, state, always(0))
    headroom = float(np.mean(optimum - nothing))

    plan = bundle_plan(models, fresh)  # its own state: the churn model's score, learned effects
    learned_table = policy_table(
        plan.simulator,
        plan.state,
        lambda states: greedy_actions(plan.network, states, plan.simulator.allowed),
    )
    learned = at_own_state(truth, state, evaluate_table(truth, state, learned_table))
    learned_ratio = float(np.mean(learned - nothing)) / headroom
    evaluate_seconds = time.perf_counter() - started
    # What the learned effects allow at best: the calibrated simulator's own exact optimum.
    calibrated_table, _ = optimal_values(plan.simulator, plan.state)
    calibrated = at_own_state(truth, state, evaluate_table(truth, state, calibrated_table))
    calibrated_ratio = float(np.mean(calibrated - nothing)) / headroom

    started = time.perf_counter()
    with torch_threads(2):
        on_truth = train_dqn(truth, true_state(training.drop("Churn")), settings.dqn)
    truth_seconds = time.perf_counter() - started
    trained = evaluate_policy(
        truth, state, lambda states: greedy_actions(on_truth, states, truth.allowed)
    )
    truth_ratio = float(np.mean(trained - nothing)) / headroom
    differs = float(np.mean(optimal_table != 0))
    return [
        Result(
            "train --campaigns 50,000-row log, 7,043 customers, default DQN (10,000 iterations)",
            f"{train_seconds:.1f} s; certified gain ratio {evaluation.evaluation.gain_ratio:.3f}",
            ">= 0.95",
            evaluation.evaluation.gain_ratio >= 0.95,
        ),
        Result(
            "DQN on learned effects, valued under the true effects: gain / true optimum's "
            "(5,000 fresh customers, exact, every month)",
            f"{learned_ratio:.3f} ({np.mean(learned - nothing):.2f} of {headroom:.2f}; "
            f"{evaluate_seconds:.1f} s)",
            ">= 0.85",
            learned_ratio >= 0.85,
        ),
        Result(
            "  the calibrated simulator's exact optimum (learned effects), same valuation",
            f"{calibrated_ratio:.3f} (what the learned effects allow at best)",
            "",
            True,
        ),
        Result(
            "DQN trained on the true effects (same customers, default DQN), same valuation",
            f"{truth_ratio:.3f} (trained in {truth_seconds:.1f} s; optimum acts in "
            f"{differs:.0%} of states)",
            ">= 0.95",
            truth_ratio >= 0.95,
        ),
    ]


def main() -> None:
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        import_seconds = bench_import()
        results = [
            Result("python -c 'import torch, xgboost, polars'", f"{import_seconds:.2f} s", "", True)
        ]
        chosen = set(sys.argv[1:]) or {
            "score", "train", "demo", "ray", "effects", "learned", "score-learned", "treeshap",
            "score-deep",
        }  # fmt: skip
        if "score" in chosen:
            results += bench_score_shipped(import_seconds)
            results += bench_score_large(workdir)
        if "train" in chosen:
            results += bench_train(workdir, import_seconds)
        if "demo" in chosen:
            results += bench_demo_data(workdir)
        if "ray" in chosen:
            results += bench_ray(workdir)
        if "effects" in chosen:
            results += bench_effects(workdir)
        if "learned" in chosen:
            results += bench_learned(workdir)
        if "score-learned" in chosen:
            results += bench_score_learned(workdir)
        if "treeshap" in chosen:
            results += bench_treeshap()
        if "score-deep" in chosen:
            results += bench_deep_score(workdir)
    table = Table(title="aura-sentinel benchmarks (best of repeats, fresh processes)")
    for header in ("benchmark", "measured", "goal", "met"):
        table.add_column(header)
    for result in results:
        met = "" if not result.goal else ("yes" if result.met else "[red]NO[/]")
        table.add_row(result.name, result.measured, result.goal, met)
    console.print(table)


if __name__ == "__main__":
    main()

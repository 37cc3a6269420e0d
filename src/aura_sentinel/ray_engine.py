"""Scoring on Ray Data: the command's own scoring core, run by Ray workers over Parquet.

Ray Data reads the Parquet input in blocks; `map_batches` runs `score_frame` (the function the
single-process command uses, so the two cannot drift) in actors that each load and verify the
bundle once; the results are written as Parquet files under the output folder, which replaces any
earlier results folder only when complete. The summary is aggregated on the cluster: only counts
and sums reach the driver, never rows.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from aura_sentinel.errors import UsageError
from aura_sentinel.io import atomic_folder, tidy
from aura_sentinel.pipeline import ScoreSettings, ScoreSummary, ScoringModel, score_frame

_INSTALL = "install the extra: pip install 'aura-sentinel[ray]'"


class BlockScorer:
    """One Ray actor: the bundle loaded and verified once, then block after block scored."""

    def __init__(self, models: str, settings: ScoreSettings, source: str) -> None:
        self.model = ScoringModel.load(Path(models))
        self.settings = settings
        self.source = source

    def __call__(self, block: Any) -> Any:
        frame = tidy(pl.DataFrame(pl.from_arrow(block)), Path(self.source))
        results, _ = score_frame(frame, self.model, self.settings, self.source)
        return results.to_arrow()


def score_on_ray(
    data: str,
    models: Path,
    out: Path,
    settings: ScoreSettings,
    address: str | None = None,
) -> ScoreSummary:
    """Score the Parquet file, folder or glob `data` on Ray and write Parquet files under `out`."""
    started = time.perf_counter()
    ray, ray_data = _import_ray()
    files = _parquet_inputs(data)
    model = ScoringModel.load(models)  # verified on the driver too: a bad bundle fails at once
    if model.bundle.roles.id is None:
        raise UsageError(
            "--engine ray",
            "the bundle has no customer id column, and row numbers are not defined across blocks",
            "train with --id naming the customer id column",
        )
    _check_output_folder(out)
    logging.getLogger("ray").setLevel(logging.ERROR)
    if not ray.is_initialized():
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    ray_data.DataContext.get_current().enable_progress_bars = False
    scored = (
        ray_data.read_parquet([str(path) for path in files])
        .map_batches(
            BlockScorer,
            fn_constructor_args=(str(models), settings, data),
            batch_format="pyarrow",
            compute=ray_data.ActorPoolStrategy(min_size=1),
        )
        .materialize()
    )
    with atomic_folder(out) as staging:
        scored.write_parquet(str(staging))
    summary = _summary(scored, model, data, models, out, settings)
    summary.seconds = time.perf_counter() - started
    return summary


def _import_ray() -> tuple[Any, Any]:
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # Ray Data logs every step at INFO
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise UsageError("--engine ray", "Ray is not installed", _INSTALL) from error
    if importlib.util.find_spec("aiohttp") is None:
        # fsspec's HTTP filesystem cannot load without aiohttp. Ray probes it from several
        # threads at once, and the racing imports fail with an error Ray does not expect;
        # marking the module absent gives every thread the clean "not installed" Ray handles.
        sys.modules.setdefault("fsspec.implementations.http", None)  # type: ignore[arg-type]
    return ray, ray.data


def _parquet_inputs(data: str) -> list[Path]:
    path = Path(data)
    if path.is_dir():
        files = sorted(path.rglob("*.parquet"))
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(name) for name in glob.glob(data) if Path(name).is_file())
    if not files:
        raise UsageError(
            data, "no Parquet files found", "give a Parquet file, a folder of them or a glob"
        )
    return files


def _check_output_folder(out: Path) -> None:
    """The output is a folder of Parquet files; never replace a folder holding anything else."""
    if out.is_file():
        raise UsageError(str(out), "is a file", "give a folder for the results of --engine ray")
    if out.is_dir():
        others = [item.name for item in out.iterdir() if item.suffix != ".parquet"]
        if others:
            raise UsageError(
                str(out),
                f"holds other files than results (e.g. {others[0]})",
                "give a new or empty folder",
            )


def _summary(
    scored: Any, model: ScoringModel, data: str, models: Path, out: Path, settings: ScoreSettings
) -> ScoreSummary:
    summary = ScoreSummary(
        data=Path(data),
        models=models,
        output=out,
        action_names=model.policy.catalog.names,
        feature_names=model.bundle.spec.names,
        settings=settings,
    )
    summary.customers = int(scored.count())
    summary.probability_sum = float(scored.sum("ChurnProbability") or 0.0)
    for row in scored.groupby("RiskLevel").count().take_all():
        summary.risk_counts[str(row["RiskLevel"])] = int(row["count()"])
    size = len(summary.action_names)
    counts, costs, gains = np.zeros(size), np.zeros(size), np.zeros(size)
    for row in scored.groupby("ActionID").aggregate(*_action_sums()).take_all():
        action = int(row["ActionID"])
        counts[action] = row["count()"]
        costs[action] = row["sum(ActionCost)"]
        gains[action] = row["sum(ExpectedGain)"]
    summary.action_counts, summary.action_costs, summary.action_gains = counts, costs, gains
    return summary


def _action_sums() -> list[Any]:
    from ray.data.aggregate import Count, Sum

    return [Count(), Sum("ActionCost"), Sum("ExpectedGain")]

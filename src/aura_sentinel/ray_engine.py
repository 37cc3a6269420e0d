"""Scoring on Ray Data: the command's own scoring core, run by Ray workers over Parquet.

Ray Data reads the Parquet input in blocks; `map_batches` runs `score_frame` (the function the
single-process command uses, so the two cannot drift) in actors that each load and verify the
bundle once; the results are written as Parquet files under the output folder, which replaces any
earlier results folder only when complete. The summary is aggregated on the cluster: only counts
and sums reach the driver, never rows. A budget plan is found the same way, from sums over blocks
and, in each fill round, the few upgrades each block could take (see `budget.find_plan`).
"""

from __future__ import annotations

import glob
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from aura_sentinel.budget import (
    BudgetPlan,
    best_at_price,
    find_plan,
    total_costs,
    upgrade_candidates,
)
from aura_sentinel.drift import BinCounts
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.io import tidy
from aura_sentinel.outputs import FolderOutput, check_outputs, replaced_together
from aura_sentinel.pipeline import (
    Decisions,
    ScoreSettings,
    ScoreSummary,
    ScoringModel,
    assess,
    check_choices,
    decide,
    score_frame,
)
from aura_sentinel.schema import customer_ids

_INSTALL = "install the extra: pip install 'aura-sentinel[ray]'"


class BlockScorer:
    """One Ray actor: the bundle loaded and verified once, then block after block scored
    (with a budget plan: each customer's action is the plan's)."""

    def __init__(
        self,
        models: str,
        settings: ScoreSettings,
        source: str,
        plan: BudgetPlan | None = None,
        totals: Any = None,
    ) -> None:
        self.model = ScoringModel.load(Path(models), settings.threads, settings.explain)
        self.settings = settings
        self.source = source
        self.plan = plan
        self.totals = totals

    def __call__(self, block: Any) -> Any:
        frame = tidy(pl.DataFrame(pl.from_arrow(block)), Path(self.source))
        actions = None
        if self.plan is not None:
            plan, ids = self.plan, self._ids(frame)
            actions = lambda decisions: plan.actions(*_gain_and_cost(decisions), ids)  # noqa: E731
        results, decisions = score_frame(
            frame, self.model, self.settings, self.source, actions=actions
        )
        if self.totals is not None:  # waited for, so all are in when the pass ends
            weight = None
            if decisions.contributions is not None:
                weight = np.abs(decisions.contributions[:, :-1]).sum(axis=0, dtype=np.float64)
            import ray

            ray.get(self.totals.add.remote(weight, decisions.unseen, decisions.drift))
        return results.to_arrow()

    def _ids(self, frame: pl.DataFrame) -> pl.Series:
        return customer_ids(frame, str(self.model.bundle.roles.id))


class BlockCosts(BlockScorer):
    """One Ray actor for the budget's first pass: each customer's id, and gain and cost per
    action, as the single-process command keeps them (float32)."""

    def __call__(self, block: Any) -> Any:
        frame = tidy(pl.DataFrame(pl.from_arrow(block)), Path(self.source))
        gain, cost = _gain_and_cost(
            decide(assess(frame, self.model, False, self.source), self.model)
        )
        return {"key": self._ids(frame).to_numpy(), "gain": gain, "cost": cost}


class BlockTotals:
    """A Ray actor that adds up what the summary needs beyond the results' own columns: the
    mean absolute contribution of each feature, the unseen category levels, and the rows per
    training bin of each column (for the drift check)."""

    def __init__(self) -> None:
        self.weight: Any = None
        self.unseen: dict[str, int] = {}
        self.drift: BinCounts | None = None

    def add(self, weight: Any, unseen: dict[str, int], drift: BinCounts | None = None) -> None:
        if weight is not None:
            self.weight = weight if self.weight is None else self.weight + weight
        for name, count in unseen.items():
            self.unseen[name] = self.unseen.get(name, 0) + count
        if drift is not None:
            self.drift = drift if self.drift is None else self.drift + drift

    def result(self) -> tuple[Any, dict[str, int]]:
        return self.weight, self.unseen

    def drift_counts(self) -> BinCounts | None:
        return self.drift


def _gain_and_cost(decisions: Decisions) -> tuple[Any, Any]:
    return decisions.gain.astype(np.float32), decisions.cost.astype(np.float32)


def score_on_ray(
    data: str,
    models: Path,
    out: Path,
    settings: ScoreSettings,
    address: str | None = None,
    budget: float | None = None,
) -> ScoreSummary:
    """Score the Parquet file, folder or glob `data` on Ray and write Parquet files under `out`.

    With a budget, two passes come first: the customers' gains and costs per action are computed
    and kept on the cluster, and the plan is found from sums over their blocks (see `budget`).
    """
    started = time.perf_counter()
    check_choices(settings, budget)
    ray, ray_data = _import_ray()
    files = _parquet_inputs(data)
    # Verified on the driver too: a bad bundle fails at once.
    model = ScoringModel.load(models, explain=False)
    if model.bundle.roles.id is None:
        raise UsageError(
            "--engine ray",
            "the bundle has no customer id column, and row numbers are not defined across blocks",
            "train with --id naming the customer id column",
        )
    check_outputs(files, folder=_results_folder(out))
    logging.getLogger("ray").setLevel(logging.ERROR)
    if not ray.is_initialized():
        ray.init(
            address=address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    ray_data.DataContext.get_current().enable_progress_bars = False
    customers = ray_data.read_parquet([str(path) for path in files])
    plan, unconstrained = None, (0.0, 0.0)
    if budget is not None:
        costs = customers.map_batches(
            BlockCosts,
            fn_constructor_args=(
                str(models),
                ScoreSettings(explain=False, threads=settings.threads),
                data,
            ),
            batch_format="pyarrow",
            compute=ray_data.ActorPoolStrategy(min_size=1),
        ).materialize()
        _refuse_repeated_ids(costs, data)
        plan = _find_plan(costs, budget)
        unconstrained = _unconstrained(costs)
    totals = ray.remote(BlockTotals).remote()
    scored = customers.map_batches(
        BlockScorer,
        fn_constructor_args=(str(models), settings, data, plan, totals),
        batch_format="pyarrow",
        compute=ray_data.ActorPoolStrategy(min_size=1),
    ).materialize()
    with replaced_together(files, folder=_results_folder(out)) as staged:
        scored.write_parquet(str(staged.folder))
    summary = _summary(scored, model, data, models, out, settings)
    summary.state_missing = model.state_sources.missing_from(customers.schema().names)
    summary.driver_weight, summary.unseen_levels = ray.get(totals.result.remote())
    summary.distributions = model.bundle.manifest.distributions
    summary.drift_counts = ray.get(totals.drift_counts.remote())
    summary.budget = budget
    summary.unconstrained_cost, summary.unconstrained_gain = (
        float(total) for total in unconstrained
    )
    summary.seconds = time.perf_counter() - started
    return summary


# Halvings of the bisection per pass over the blocks: three (the 7 prices they may visit) trade
# the number of passes against the work of each.
_HALVINGS_PER_PASS = 3
_CANDIDATE_SCHEMA = {
    "key": pl.String,
    "action": pl.Int64,
    "ratio": pl.Float64,
    "extra_cost": pl.Float64,
}


def _find_plan(costs: Any, budget: float) -> BudgetPlan:
    """The budget plan from sums over blocks; the customers' rows never leave the cluster."""

    def candidates_at(plan: BudgetPlan, left: float) -> pl.DataFrame:
        rows = costs.map_batches(
            _block_candidates, fn_kwargs={"plan": plan, "left": left}, batch_size=None
        ).take_all()
        return pl.DataFrame(rows, schema=_CANDIDATE_SCHEMA)

    return find_plan(
        lambda prices: _block_sums(costs, _block_totals, prices=prices)["cost"],
        candidates_at,
        budget,
        _HALVINGS_PER_PASS,
    )


def _unconstrained(costs: Any) -> tuple[Any, Any]:
    """What the plan without a budget would spend and gain, for the summary."""
    sums = _block_sums(costs, _block_best)
    return sums["cost"], sums["gain"]


def _block_sums(costs: Any, per_block: Any, **arguments: Any) -> dict[str, Any]:
    """Run `per_block` on every block and add up its one-row answers."""
    partial = costs.map_batches(
        per_block, fn_kwargs=arguments, batch_format="numpy", batch_size=None
    ).take_all()
    return {name: np.sum([row[name] for row in partial], axis=0) for name in partial[0]}


def _block_totals(block: dict[str, Any], prices: Any) -> dict[str, Any]:
    return {"cost": total_costs(block["gain"], block["cost"], prices)[None, :]}


def _block_best(block: dict[str, Any]) -> dict[str, Any]:
    gain, cost = block["gain"].astype(np.float64), block["cost"].astype(np.float64)
    actions = best_at_price(gain, cost, 0.0)[:, None]
    return {
        "cost": np.array([np.take_along_axis(cost, actions, axis=1).sum()]),
        "gain": np.array([np.take_along_axis(gain, actions, axis=1).sum()]),
    }


def _block_candidates(block: dict[str, Any], plan: BudgetPlan, left: float) -> Any:
    keys = block["key"]
    actions = plan.actions(block["gain"], block["cost"], keys)
    return upgrade_candidates(block["gain"], block["cost"], actions, keys, left).to_arrow()


def _refuse_repeated_ids(costs: Any, data: str) -> None:
    """The plan names customers by id across blocks, so ids must be unique."""
    repeated = costs.groupby("key").count().filter(lambda row: row["count()"] > 1).take(1)
    if repeated:
        raise DataError(
            data,
            f"customer id '{repeated[0]['key']}' appears {repeated[0]['count()']} times, and "
            "--budget with --engine ray tells customers apart by id",
            "remove the repeated rows, or score with --engine local",
        )


def _import_ray() -> tuple[Any, Any]:
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "ERROR")  # Ray Data logs every step at INFO
    try:
        import ray
        import ray.data
    except ImportError as error:
        raise UsageError("--engine ray", "Ray is not installed", _INSTALL) from error
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


def _results_folder(out: Path) -> FolderOutput:
    """The output is a folder of Parquet files; a folder holding anything else is never replaced."""
    return FolderOutput(out, owns=lambda name: name.endswith(".parquet"), what="results folder")


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
        state_sources=model.state_sources,
        response_prior=model.policy.simulator.response_prior,
        currency=model.bundle.manifest.currency,
        effects=model.effects,
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

"""Scoring: from a batch of customers to their retention plan, with no loop over customers.

Per batch, two stages. `assess`: one Polars select builds the feature matrix, one XGBoost call
gives the churn probabilities, and the state matrix is built column-wise; with explanations, the
batch's exact per-row contributions (from tables built once per model, `treeshap.py`; XGBoost's
own TreeSHAP when the tables would not fit in memory) and its top drivers are then made in a
thread of their own. `decide`: one batched torch evaluation (in cache-sized blocks, see
`q_values`) gives the Q-values of every customer, and collects the explanation. `score_frame` is
the pure core (frame in, frame out); `score_file` streams a file through it.

A bundle trained with a campaign log (`train --campaigns`) holds effect models: `assess` then
adds each customer's learned effects to the state (one XGBoost call per effect model), the
actions the log did not try are never chosen, and the results say the plan rests on learned
effects (`EffectSource`).

Importing torch takes about a second, so the policy network is loaded (and the explainer's
tables built) in threads while the first batches are read (see `ScoringModel.load` and
`_assessed_batches`).
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl
import xgboost as xgb

from aura_sentinel.budget import allocate
from aura_sentinel.bundle import (
    MANIFEST,
    POLICY_WEIGHTS,
    Bundle,
    bundle_files,
    effect_learner,
    load_bundle,
    policy_record,
    policy_weights,
)
from aura_sentinel.churn import predict_with_threads
from aura_sentinel.drift import BinCounts, ColumnDistribution, count_bins, population_stability
from aura_sentinel.effects.models import EffectModel
from aura_sentinel.effects.record import EffectsRecord
from aura_sentinel.errors import UsageError
from aura_sentinel.features import LevelCodes
from aura_sentinel.io import read_customer_batches, sha256_file
from aura_sentinel.outputs import check_outputs, replaced_together
from aura_sentinel.record import RunRecord, record_path, write_record
from aura_sentinel.results import (
    LOGGED_ACTION,
    RESULT_SUFFIXES,
    RISK_LEVELS,
    STDOUT,
    TextFormat,
    check_results,
    result_rules,
    write_text_results,
)
from aura_sentinel.retention.config import PolicySettings, simulator_for
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import (
    StateAssumptions,
    StateMatrix,
    StateSources,
    build_state,
    check_state_columns,
    monthly_charges,
    state_assumptions,
)
from aura_sentinel.schema import as_text, check_id_column, customer_ids
from aura_sentinel.threads import check_threads, default_threads, torch_threads
from aura_sentinel.treeshap import NoTables, TableExplainer, build_explainer
from aura_sentinel.units import money_unit

if TYPE_CHECKING:
    from aura_sentinel.retention.dqn import QNetwork

FloatArray = npt.NDArray[np.float64]
Progress = Callable[[int], None]
DRIVERS = 3
DEFAULT_BATCH_ROWS = 200_000
MAX_BATCH_ROWS = 100_000_000  # a batch this size already takes tens of GB


@dataclass(frozen=True)
class ScoreSettings:
    high: float = 0.7
    """HIGH risk when the churn probability is above this."""
    medium: float = 0.4
    """MEDIUM risk when above this (and not HIGH); LOW otherwise."""
    explain: bool = True
    """Compute each customer's top churn drivers (exact contributions; the costly part)."""
    threads: int = field(default_factory=default_threads)
    """Threads for XGBoost and torch (--threads); the results are the same for any number."""


@dataclass
class ScoringModel:
    """Everything scoring needs, loaded and verified once."""

    bundle: Bundle
    policy: PolicySettings
    simulator: Simulator
    network: Future[QNetwork]
    """The policy's Q-network, loaded (with torch) in a thread; see `q_values`."""
    explainer: Future[TableExplainer | NoTables] | None
    """The churn model's contribution tables, built in a thread; None: no explanations."""

    threads: int = 1
    """Threads for XGBoost's predictions and torch's forward passes."""
    effect_model: EffectModel | None = None
    """The effects learned from a campaign log, which the policy plans on; None: assumed."""
    explaining: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1)
    )
    """Explains each batch in a thread while the main one decides; the work is single-threaded
    and would otherwise leave the second core idle."""

    @classmethod
    def load(cls, path: Path, threads: int = 1, explain: bool = True) -> ScoringModel:
        bundle = load_bundle(path)
        weights = policy_weights(bundle)  # verified here, so a bad bundle fails at once
        policy = policy_record(bundle).settings
        predict_with_threads(bundle.booster, threads)
        effects, learner = bundle.manifest.effects, effect_learner(bundle)
        effect_model = None if effects is None or learner is None else EffectModel(effects, learner)
        loader = ThreadPoolExecutor(max_workers=2)
        features = len(policy_record(bundle).state_columns)
        network = loader.submit(
            _load_network, weights, policy, features, str(bundle.path / POLICY_WEIGHTS)
        )
        explainer = (
            loader.submit(build_explainer, bundle.booster, bundle.spec.xgboost_types)
            if explain
            else None
        )
        loader.shutdown(wait=False)  # its threads end once their work is done
        simulator = simulator_for(policy, None if effects is None else effects.tried)
        return cls(bundle, policy, simulator, network, explainer, threads, effect_model)

    @property
    def effects(self) -> EffectsRecord | None:
        """The record of the learned effects the plan rests on; None: assumed effects."""
        return None if self.effect_model is None else self.effect_model.record

    @property
    def effect_source(self) -> str:
        """ "learned" or "assumed": what the plan's effects rest on (the EffectSource column)."""
        return "assumed" if self.effect_model is None else "learned"

    @property
    def state_sources(self) -> StateSources:
        """The column each state field is read from, as the bundle's column map says."""
        return self.bundle.manifest.state_sources

    @property
    def explanations(self) -> str | None:
        """One line: how the contributions are computed (None: no explanations)."""
        if self.explainer is None:
            return None
        explainer = self.explainer.result()
        if isinstance(explainer, NoTables):
            return f"Explanations: XGBoost's TreeSHAP, slower than tables: {explainer.reason}."
        return (
            f"Explanations: exact, from {explainer.tables:,} tables "
            f"({explainer.table_bytes / 2**20:,.1f} MB, built in {explainer.build_seconds:.1f} s)."
        )

    def contributions(self, matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Every row's exact contribution of each feature to the churn margin, then the bias."""
        assert self.explainer is not None, "loaded without explanations"
        explainer = self.explainer.result()
        if isinstance(explainer, TableExplainer):
            # One thread: on two cores a second one was slower (up to 8x under load; the work
            # per row is too small to share), and the bits are the same at any number.
            with torch_threads(1):
                return explainer.contributions(matrix)
        spec = self.bundle.spec
        data = xgb.DMatrix(matrix, feature_types=spec.xgboost_types, enable_categorical=True)
        return np.asarray(self.bundle.booster.predict(data, pred_contribs=True), dtype=np.float32)

    def q_values(self, state: StateMatrix) -> npt.NDArray[np.float32]:
        """The policy's Q-values for every customer; waits for the network to be loaded."""
        from aura_sentinel.retention.dqn import q_values  # already imported with the network

        network = self.network.result()
        with torch_threads(self.threads):  # blocks of fixed size: the same bits at any number
            return q_values(network, state)


def _load_network(weights: bytes, policy: PolicySettings, features: int, source: str) -> QNetwork:
    from aura_sentinel.retention.policy import load_network  # imports torch

    return load_network(weights, policy, features, source)


@dataclass
class Assessment:
    """The churn model's view of one batch: everything scoring needs before the policy."""

    batch: pl.DataFrame
    first_row: int
    probability: FloatArray
    explanation: Future[Explanation] | None
    """The batch's contributions and top drivers, made in `model.explaining` (None: no
    explanations)."""
    levels: dict[str, LevelCodes]  # the text category columns as coded in the model matrix
    state: StateMatrix
    unseen: dict[str, int]  # rows per category column with a level training never saw
    drift: BinCounts | None = None  # rows per training bin of each column (see drift.py)


@dataclass(frozen=True)
class Explanation:
    """Why each customer of one batch is at risk."""

    contributions: npt.NDArray[np.float32]
    drivers: pl.Series
    """TopDrivers: "name=value; ..." of each customer's (up to) three top drivers."""


def _explanation(
    batch: pl.DataFrame,
    matrix: npt.NDArray[np.float32],
    levels: dict[str, LevelCodes],
    model: ScoringModel,
) -> Explanation:
    contributions = model.contributions(matrix)
    return Explanation(contributions, _top_drivers(batch, model, contributions, levels))


@dataclass
class Decisions:
    """Churn probabilities, contributions and the policy's Q-values for one batch."""

    probability: FloatArray
    contributions: npt.NDArray[np.float32] | None
    drivers: pl.Series | None
    """TopDrivers of each customer (None: no explanations)."""
    gain: FloatArray  # N x actions: expected gain over no action this month, in money
    """-inf for an action the campaign log did not try: never chosen, by the policy or a budget."""
    value: FloatArray  # N x actions: expected discounted profit, in money (-inf: not tried)
    cost: FloatArray  # N x actions
    unseen: dict[str, int]
    drift: BinCounts | None = None
    state_missing: dict[str, str] = field(default_factory=dict)
    """role -> column of the bundle's column map that the batch lacks (its default applies)."""


def assess(
    batch: pl.DataFrame, model: ScoringModel, explain: bool, source: str, first_row: int = 0
) -> Assessment:
    """One XGBoost call for the whole batch (and one per effect model), and the customers'
    states (with their learned effects when the bundle has them).

    Refuses (DataError) a batch without the bundle's id column, with values the model, the
    effect models or the state cannot read (text, dates or lists in number columns, numbers
    beyond float32), or a bad monthly charge, naming the file's column and row.
    """
    spec = model.bundle.spec
    check_id_column(batch.columns, model.bundle.roles, source)
    matrix = spec.matrix(batch, source, first_row)
    check_state_columns(batch, model.state_sources, source, first_row)
    probability = np.asarray(model.bundle.booster.inplace_predict(matrix), dtype=np.float64)
    levels = spec.level_codes(batch, matrix)
    assessment = Assessment(
        batch=batch,
        first_row=first_row,
        probability=probability,
        explanation=(
            model.explaining.submit(_explanation, batch, matrix, levels, model) if explain else None
        ),
        levels=levels,
        state=build_state(
            batch, probability, model.policy.simulator.response_prior, model.state_sources, levels
        ),
        unseen=spec.unseen_levels(batch, matrix),
    )
    distributions = model.bundle.manifest.distributions
    assessment.drift = count_bins(distributions, spec, matrix, assessment.state, assessment.unseen)
    effects = model.effect_model
    if effects is not None:  # after the drift counts, which read the nine fields
        same_features = effects.record.features == spec  # then the matrix is the effects' too
        assessment.state, _ = effects.learned_state(
            batch,
            assessment.state,
            model.policy.simulator,
            source,
            first_row,
            model.threads,
            matrix if same_features else None,
        )
    return assessment


def decide(assessment: Assessment, model: ScoringModel) -> Decisions:
    """One batched torch evaluation for the whole batch: each action's gain, value and cost
    (gain and value -inf for the actions the campaign log did not try)."""
    q = model.q_values(assessment.state).astype(np.float64)
    explanation = None if assessment.explanation is None else assessment.explanation.result()
    charge = monthly_charges(assessment.batch, model.state_sources)
    lifetime = model.simulator.lifetime_value(assessment.state)
    cost = np.asarray(model.policy.catalog.cost_shares)[None, :] * charge[:, None]
    allowed = model.simulator.allowed[None, :]
    return Decisions(
        probability=assessment.probability,
        contributions=None if explanation is None else explanation.contributions,
        drivers=None if explanation is None else explanation.drivers,
        gain=np.where(allowed, (q - q[:, :1]) * charge[:, None], -np.inf),
        value=np.where(allowed, (q + lifetime[:, None]) * charge[:, None], -np.inf),
        cost=cost,
        unseen=assessment.unseen,
        drift=assessment.drift,
        state_missing=model.state_sources.missing_from(assessment.batch.columns),
    )


def score_frame(
    batch: pl.DataFrame,
    model: ScoringModel,
    settings: ScoreSettings,
    source: str,
    first_row: int = 0,
    actions: Callable[[Decisions], npt.NDArray[np.int64]] | None = None,
) -> tuple[pl.DataFrame, Decisions]:
    """The results frame for a batch (one row per customer, input order) and its decisions.

    `actions` overrides the policy's choice (a budget plan) given the batch's decisions; by
    default each customer gets the action with the highest Q-value.
    """
    assessment = assess(batch, model, settings.explain, source, first_row)
    return _results(assessment, model, settings, actions, source)


def _results(
    assessment: Assessment,
    model: ScoringModel,
    settings: ScoreSettings,
    actions: Callable[[Decisions], npt.NDArray[np.int64]] | None,
    source: str,
) -> tuple[pl.DataFrame, Decisions]:
    """The results of one batch, checked by the rules `report` reads them by."""
    batch, first_row = assessment.batch, assessment.first_row
    decisions = decide(assessment, model)
    chosen = decisions.gain.argmax(axis=1) if actions is None else actions(decisions)
    rows = np.arange(batch.height)
    horizon = model.policy.simulator.campaign_horizon
    churn_if_acted = model.simulator.churn_within(assessment.state, horizon)[rows, chosen]
    probability = decisions.probability
    risk = np.where(probability > settings.high, 0, np.where(probability > settings.medium, 1, 2))
    roles = model.bundle.roles
    if roles.id is None:  # the row number in the file
        ids = pl.Series(np.arange(first_row + 1, first_row + batch.height + 1)).cast(pl.String)
    else:
        ids = customer_ids(batch, roles.id)
    results = pl.DataFrame(
        [
            ids.alias("CustomerID"),
            _role_column(batch, model.state_sources.column("tenure"), "Tenure"),
            _role_column(batch, model.state_sources.column("monthly_charges"), "MonthlyCharges"),
            pl.Series("ChurnProbability", probability),
            pl.Series("RiskLevel", RISK_LEVELS).gather(risk),
            pl.Series("ActionID", chosen.astype(np.int64)),
            pl.Series("RecommendedAction", model.policy.catalog.names).gather(chosen),
            pl.Series("ActionCost", decisions.cost[rows, chosen]),
            pl.Series("ExpectedValue", decisions.value[rows, chosen]),
            pl.Series("ExpectedGain", decisions.gain[rows, chosen]),
            pl.Series("ChurnIfActed", churn_if_acted),
            pl.repeat(model.effect_source, batch.height, dtype=pl.String, eager=True).alias(
                "EffectSource"
            ),
            _role_text(batch, model.state_sources.column("contract"), "Contract"),
            _top_drivers(batch, model, None, assessment.levels)
            if decisions.drivers is None
            else decisions.drivers,
        ]
    )
    check_results(
        results,
        result_rules(model.policy.catalog.names),
        source,
        "row {} after the header",
        "a result broke its own rule: report this with that row",
        first_row,
    )
    if roles.target in batch.columns:
        results = results.with_columns(batch.get_column(roles.target).alias(roles.target))
    effects = model.effects
    if effects is not None and effects.action_column in batch.columns:
        # A scored campaign log: what was done, beside what happened (the target).
        logged = as_text(batch.get_column(effects.action_column)).alias(LOGGED_ACTION)
        results = results.with_columns(logged)
    return results, decisions


def _role_column(batch: pl.DataFrame, source_name: str | None, name: str) -> pl.Series:
    """A numeric column from the input, or an empty one when the table has no such column."""
    if source_name is None or source_name not in batch.columns:
        return pl.Series(name, [None] * batch.height, dtype=pl.Float64)
    column: pl.Series = batch.get_column(source_name).cast(pl.Float64, strict=False)
    return column.alias(name)


def _role_text(batch: pl.DataFrame, source_name: str | None, name: str) -> pl.Series:
    """A text column from the input, or an empty one when the table has no such column."""
    if source_name is None or source_name not in batch.columns:
        return pl.Series(name, [None] * batch.height, dtype=pl.String)
    return as_text(batch.get_column(source_name)).alias(name)


def _top_drivers(
    batch: pl.DataFrame,
    model: ScoringModel,
    contributions: npt.NDArray[np.float32] | None,
    levels: dict[str, LevelCodes],
) -> pl.Series:
    """ "name=value; ..." of the (up to) three features pushing each customer's risk up most.

    Text is made only for the chosen (customer, feature) pairs: the pairs are sorted by feature,
    each feature's texts are made at once (for a coded column, picked from its few levels'
    texts), and the texts are put back in place.
    """
    if contributions is None:
        return pl.repeat(None, batch.height, dtype=pl.String, eager=True).alias("TopDrivers")
    names = model.bundle.spec.names
    remaining = contributions[:, : len(names)].copy()
    rows = np.arange(batch.height)
    # The smallest integer type that holds every feature index: NumPy sorts it by radix.
    chosen = np.empty((batch.height, DRIVERS), dtype=np.min_scalar_type(-len(names)))
    for rank in range(DRIVERS):  # the largest first; ties go to the earlier feature
        best = remaining.argmax(axis=1)
        chosen[:, rank] = np.where(remaining[rows, best] > 0, best, -1)
        remaining[rows, best] = -np.inf
    pairs = chosen.ravel()  # customer i's rank r at i * DRIVERS + r
    by_feature = np.argsort(pairs, kind="stable")
    starts = np.searchsorted(pairs[by_feature], np.arange(len(names) + 1))
    pieces = [pl.repeat(None, int(starts[0]), dtype=pl.String, eager=True)]
    for index, name in enumerate(names):
        customers = by_feature[starts[index] : starts[index + 1]] // DRIVERS
        pieces.append(_driver_texts(batch.get_column(name), customers, levels.get(name)))
    in_place = np.empty_like(by_feature)
    in_place[by_feature] = np.arange(by_feature.size)
    texts = pl.concat(pieces, rechunk=True)  # one chunk: gathers from it are 5x faster
    ranked = [texts.gather(in_place[rank::DRIVERS]).alias(str(rank)) for rank in range(DRIVERS)]
    return (
        pl.DataFrame(ranked)
        .select(pl.concat_str(pl.all(), separator="; ", ignore_nulls=True).alias("TopDrivers"))
        .to_series()
    )


def _driver_texts(
    column: pl.Series, customers: npt.NDArray[np.intp], coded: LevelCodes | None
) -> pl.Series:
    """ "name=value" for the given customers of one column ("(blank)" for a blank cell)."""
    if coded is None:
        values = as_text(column.gather(customers)).fill_null("(blank)")
        return f"{column.name}=" + values
    # Coded by level: pick each customer's text from the levels' texts (the last: a blank).
    codes = coded.codes[customers]
    uncoded = np.isnan(codes)
    options = [*coded.levels, "(blank)"]
    texts = pl.Series([f"{column.name}={option}" for option in options], dtype=pl.String)
    picked = texts.gather(np.where(uncoded, len(coded.levels), codes).astype(np.intp))
    missing = np.flatnonzero(uncoded)
    if missing.size:  # blank, or a level training never saw: that one has its own text
        text = column.gather(customers[missing])
        unseen = text.is_not_null().to_numpy()
        if unseen.any():
            picked = picked.scatter(missing[unseen], f"{column.name}=" + text.filter(unseen))
    return picked


@dataclass
class ScoreSummary:
    """What a scoring run did, aggregated batch by batch (never all rows at once)."""

    data: Path
    models: Path
    output: Path
    action_names: tuple[str, ...]
    feature_names: list[str]
    settings: ScoreSettings
    customers: int = 0
    seconds: float = 0.0
    probability_sum: float = 0.0
    risk_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RISK_LEVELS, 0))
    action_counts: FloatArray = field(default_factory=lambda: np.zeros(0))
    action_costs: FloatArray = field(default_factory=lambda: np.zeros(0))
    action_gains: FloatArray = field(default_factory=lambda: np.zeros(0))
    driver_weight: FloatArray | None = None
    unseen_levels: dict[str, int] = field(default_factory=dict)
    budget: float | None = None
    unconstrained_cost: float = 0.0
    unconstrained_gain: float = 0.0
    distributions: tuple[ColumnDistribution, ...] = ()
    """The bundle's training distributions, which `drift` compares the scored rows with."""
    drift_counts: BinCounts | None = None
    state_sources: StateSources | None = None
    """The bundle's column map; with the two fields below, what the summary says of the state."""
    response_prior: float = 0.0
    currency: str | None = None
    state_missing: dict[str, str] = field(default_factory=dict)
    """role -> column of the column map that the scored file lacks (its default applied)."""
    effects: EffectsRecord | None = None
    """The learned effects the plan rests on (None: the simulator's assumed effects)."""
    explanations: str | None = None
    """How the contributions were computed (None: --no-explain)."""

    def __post_init__(self) -> None:
        size = len(self.action_names)
        self.action_counts, self.action_costs, self.action_gains = (np.zeros(size) for _ in "abc")

    @property
    def drift(self) -> dict[str, float]:
        """The population stability index of every column against its training distribution."""
        return population_stability(self.distributions, self.drift_counts)

    @property
    def state(self) -> StateAssumptions | None:
        """The state's assumptions: columns read under other names, defaults, missing columns."""
        if self.state_sources is None:
            return None
        return state_assumptions(
            self.state_sources, self.response_prior, missing=self.state_missing
        )

    @property
    def money_unit(self) -> str:
        """What the costs and gains are in ("" when not known)."""
        state = self.state
        return "" if state is None else money_unit(state.charges_defaulted, self.currency)

    @property
    def out_of_range(self) -> dict[str, int]:
        """Rows outside the training range, per state field ("state:<field>")."""
        return {} if self.drift_counts is None else dict(self.drift_counts.outside)

    def add(self, results: pl.DataFrame, decisions: Decisions) -> None:
        actions = results.get_column("ActionID").to_numpy()
        size = len(self.action_names)
        self.customers += results.height
        self.probability_sum += float(decisions.probability.sum())
        for level, count in results.get_column("RiskLevel").value_counts().iter_rows():
            self.risk_counts[level] += int(count)
        self.action_counts = self.action_counts + np.bincount(actions, minlength=size)
        self.action_costs = self.action_costs + np.bincount(
            actions, weights=results.get_column("ActionCost").to_numpy(), minlength=size
        )
        self.action_gains = self.action_gains + np.bincount(
            actions, weights=results.get_column("ExpectedGain").to_numpy(), minlength=size
        )
        best = decisions.gain.argmax(axis=1)
        rows = np.arange(results.height)
        self.unconstrained_cost += float(decisions.cost[rows, best].sum())
        self.unconstrained_gain += float(decisions.gain[rows, best].sum())
        if decisions.contributions is not None:
            weight = np.abs(decisions.contributions[:, :-1]).sum(axis=0, dtype=np.float64)
            self.driver_weight = (
                weight if self.driver_weight is None else self.driver_weight + weight
            )
        for name, count in decisions.unseen.items():
            self.unseen_levels[name] = self.unseen_levels.get(name, 0) + count
        self.state_missing.update(decisions.state_missing)
        if decisions.drift is not None:
            counts = self.drift_counts
            self.drift_counts = decisions.drift if counts is None else counts + decisions.drift


def score_file(
    data: Path,
    models: Path,
    output: Path | IO[bytes],
    settings: ScoreSettings,
    budget: float | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Progress | None = None,
) -> ScoreSummary:
    """Score every customer of `data` and write the results atomically to `output`, with the
    run record beside them; or, when `output` is a binary stream (standard output), write CSV
    to it once every customer is scored, with no run record."""
    started = time.perf_counter()
    stream, output = (None, output) if isinstance(output, Path) else (output, STDOUT)
    _check_options(output if stream is None else None, batch_rows, budget, settings)
    reads = [data, *bundle_files(models)]
    check_outputs(reads, [output, record_path(output)] if stream is None else [])
    model = ScoringModel.load(models, settings.threads, settings.explain)
    source = str(data)
    plan = (
        None
        if budget is None
        else budget_plan(read_customer_batches(data, batch_rows), model, source, budget)
    )
    summary = ScoreSummary(
        data=data,
        models=models,
        output=output,
        action_names=model.policy.catalog.names,
        feature_names=model.bundle.spec.names,
        settings=settings,
        budget=budget,
        distributions=model.bundle.manifest.distributions,
        state_sources=model.state_sources,
        response_prior=model.policy.simulator.response_prior,
        currency=model.bundle.manifest.currency,
        effects=model.effects,
    )

    def scored_batches() -> Iterator[pl.DataFrame]:
        batches = read_customer_batches(data, batch_rows)
        for results, decisions in scored(batches, model, settings, source, plan):
            summary.add(results, decisions)
            if progress is not None:
                progress(summary.customers)
            yield results

    if stream is not None:
        _write_to_stream(scored_batches(), stream)
    else:
        record = record_path(output)
        with replaced_together(reads, [output, record]) as staged:
            _write_results(scored_batches(), staged[output], output)
            write_record(staged[record], _run_record(summary, model, staged[output]))
    summary.explanations = model.explanations
    summary.seconds = time.perf_counter() - started
    return summary


def _run_record(summary: ScoreSummary, model: ScoringModel, output: Path) -> RunRecord:
    customers = max(summary.customers, 1)
    weights = {}
    if summary.driver_weight is not None:
        mean_weight = summary.driver_weight / customers
        weights = dict(zip(summary.feature_names, mean_weight.tolist(), strict=True))
    return RunRecord(
        results_bytes=output.stat().st_size,
        customers=summary.customers,
        data=str(summary.data.resolve()),
        models=str(summary.models.resolve()),
        bundle_sha256=sha256_file(model.bundle.path / MANIFEST),
        high=summary.settings.high,
        medium=summary.settings.medium,
        explain=summary.settings.explain,
        budget=summary.budget,
        unconstrained_cost=summary.unconstrained_cost,
        unconstrained_gain=summary.unconstrained_gain,
        driver_weight=weights,
        unseen_levels=dict(summary.unseen_levels),
        drift=summary.drift,
        out_of_range=summary.out_of_range,
    )


def check_choices(settings: ScoreSettings, budget: float | None) -> None:
    """Refuse risk thresholds, a budget or a thread count that make no sense, in every engine
    alike."""
    check_threads(settings.threads)
    if budget is not None and not (math.isfinite(budget) and budget >= 0):
        raise UsageError("--budget", f"{budget} is not an amount", "give a number of 0 or more")
    if not 0 <= settings.medium <= settings.high <= 1:
        raise UsageError(
            "--high/--medium",
            f"thresholds {settings.high} and {settings.medium} are not 0 <= medium <= high <= 1",
            "give probabilities with --medium at most --high",
        )


def _check_options(
    output: Path | None, batch_rows: int, budget: float | None, settings: ScoreSettings
) -> None:
    if not 1 <= batch_rows <= MAX_BATCH_ROWS:
        raise UsageError(
            "--batch-rows", f"{batch_rows} is out of range", f"give 1 to {MAX_BATCH_ROWS:,}"
        )
    check_choices(settings, budget)
    if output is not None and output.suffix.lower() not in RESULT_SUFFIXES:
        raise UsageError(
            str(output), "unknown output type", "name it .csv, .parquet, .json or .jsonl"
        )


# Batches assessed ahead while the policy network is still loading: enough to fill the second
# its import takes, few enough to keep memory bounded.
_READ_AHEAD = 2


def _assessed_batches(
    batches: Iterable[pl.DataFrame], model: ScoringModel, explain: bool, source: str
) -> Iterator[Assessment]:
    """The batches in order, assessed; up to _READ_AHEAD of them ahead of the policy."""
    pending: deque[Assessment] = deque()
    first_row = 0
    for batch in batches:
        pending.append(assess(batch, model, explain, source, first_row))
        first_row += batch.height
        while pending and (model.network.done() or len(pending) > _READ_AHEAD):
            yield pending.popleft()
    yield from pending


def scored(
    batches: Iterable[pl.DataFrame],
    model: ScoringModel,
    settings: ScoreSettings,
    source: str,
    plan: npt.NDArray[np.int64] | None = None,
) -> Iterator[tuple[pl.DataFrame, Decisions]]:
    """Each batch's results and decisions, in order; `plan` (from `budget_plan` on the same
    batches) gives every customer's action, else the policy chooses."""
    for assessment in _assessed_batches(batches, model, settings.explain, source):
        first_row, height = assessment.first_row, assessment.batch.height
        actions = None if plan is None else _given(plan[first_row : first_row + height])
        yield _results(assessment, model, settings, actions, source)


def _given(actions: npt.NDArray[np.int64]) -> Callable[[Decisions], npt.NDArray[np.int64]]:
    return lambda _: actions


def budget_plan(
    batches: Iterable[pl.DataFrame], model: ScoringModel, source: str, budget: float
) -> npt.NDArray[np.int64]:
    """First pass: every customer's gain and cost per action; then the best plan in budget.

    Ties between customers go to the smaller customer id, then the earlier row (so the plan
    does not depend on the row order when ids are distinct, as with --engine ray).
    """
    gains, costs, ids = [], [], []
    first_row = 0
    for assessment in _assessed_batches(batches, model, False, source):
        decisions = decide(assessment, model)
        gains.append(decisions.gain.astype(np.float32))
        costs.append(decisions.cost.astype(np.float32))
        if model.bundle.roles.id is not None:
            ids.append(customer_ids(assessment.batch, model.bundle.roles.id))
        first_row += assessment.batch.height
    keys = np.arange(first_row)
    if ids:
        tie_order = (
            pl.DataFrame({"id": pl.concat(ids)})
            .with_row_index("row")
            .sort(["id", "row"])
            .get_column("row")
            .to_numpy()
        )
        keys[tie_order] = np.arange(first_row)
    return allocate(np.concatenate(gains), np.concatenate(costs), budget, keys)


# Text columns with few distinct values: dictionary-encoded in Parquet. Other columns (ids,
# amounts, drivers) are not tried, which saves a sixth of the writing time.
_FEW_VALUES = {"RiskLevel", "RecommendedAction", "EffectSource", "Contract", LOGGED_ACTION}


def _write_results(batches: Iterator[pl.DataFrame], target: Path, output: Path) -> None:
    if output.suffix.lower() == ".parquet":
        import pyarrow.parquet as parquet

        writer = None
        try:
            for results in batches:
                table = results.to_arrow()
                if writer is None:
                    writer = parquet.ParquetWriter(
                        str(target),
                        table.schema,
                        compression="zstd",
                        use_dictionary=[name for name in table.column_names if name in _FEW_VALUES],
                    )
                writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()
        return
    text_format: TextFormat = "json" if output.suffix.lower() == ".json" else "csv"
    if output.suffix.lower() == ".jsonl":
        text_format = "jsonl"
    with target.open("wb") as handle:
        write_text_results(batches, handle, text_format)


def _write_to_stream(batches: Iterator[pl.DataFrame], stream: IO[bytes]) -> None:
    """CSV to `stream` only once every batch is scored and checked: the results are staged in
    an anonymous temporary file (gone however the process ends), so a failure leaves the
    stream empty."""
    with tempfile.TemporaryFile() as staged:
        write_text_results(batches, staged, "csv")
        staged.seek(0)
        shutil.copyfileobj(staged, stream)
    stream.flush()

"""What the report says: every number, from the results file, the bundle and the run record.

Only the columns the report needs are read, and everything shown is an aggregate (counts per band,
per action, per segment, a fixed-size histogram and curves), so a results file of millions of rows
gives a report of the same size as one of a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.bundle import MANIFEST, Bundle, Manifest, load_bundle, policy_weights
from aura_sentinel.curves import Curves, performance_curves
from aura_sentinel.drift import ColumnDistribution
from aura_sentinel.effects.record import EffectsRecord
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.io import damaged_file, json_layout, sha256_file, sniff_format
from aura_sentinel.leakage import LeakWarning
from aura_sentinel.metrics import roc_auc
from aura_sentinel.record import RunRecord, read_record
from aura_sentinel.report.realised import LOGGED_ACTION, Realised, realised_result
from aura_sentinel.results import (
    RISK_LEVELS,
    ColumnRule,
    check_results,
    restore_formulas,
    restored_name,
    result_rules,
)
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.retention.evaluation import PolicyEvaluation
from aura_sentinel.schema import parse_outcome
from aura_sentinel.sensitive import SensitiveColumn

HISTOGRAM_BINS = 20
TOP_SHARES = (0.1, 0.2)
MAX_SEGMENTS = 8
TOP_DRIVERS = 10
DRIFT_ALARM = 0.25
"""A population stability index above this is a large shift from the training data."""
_NUMBERS = ("ChurnProbability", "ActionCost", "ExpectedGain")
_TEXTS = ("RiskLevel", "RecommendedAction")
_OPTIONAL_TEXTS = ("Contract", LOGGED_ACTION)
_OPTIONAL_NUMBERS = ("Tenure", "ActionID", "ExpectedValue")
"""Read (when present) to be checked by the results' rules; `Tenure` also gives segments."""
_RERUN = "re-run `aura-sentinel score` to write the results again"
_TENURE_GROUPS = ((12, "0-12 months"), (24, "13-24 months"), (48, "25-48 months"))


@dataclass(frozen=True)
class ModelCard:
    training_file: str
    training_rows: int
    training_churn_rate: float
    training_sha256: str
    metrics: dict[str, float]
    folds: int
    trees: int
    depth: int
    libraries: dict[str, str]
    artifacts: dict[str, str]
    """SHA-256 of each bundle file, by file name."""
    features_used: list[str]
    features_dropped: list[tuple[str, str]]
    cv_curves: Curves | None
    leaks: tuple[LeakWarning, ...]
    sensitive: tuple[SensitiveColumn, ...]


@dataclass(frozen=True)
class RiskView:
    counts: dict[str, int]
    thresholds: tuple[float, float] | None
    """(high, medium) from the run record, when known."""
    histogram: dict[str, list[int]]
    """Customers per probability bin of width 1/HISTOGRAM_BINS, per risk level."""
    segment_name: str | None
    segments: list[tuple[str, dict[str, int], float]]
    """(segment, customers per risk level, mean churn probability), largest first."""


@dataclass(frozen=True)
class ActionLine:
    action: str
    customers: int
    spend: float
    gain: float
    by_risk: dict[str, int] = field(default_factory=dict)
    """Customers given this action, per risk level."""

    @property
    def return_on_spend(self) -> float | None:
        return self.gain / self.spend if self.spend > 0 else None


@dataclass(frozen=True)
class PolicyQuality:
    evaluation: PolicyEvaluation
    catalog: list[tuple[str, float, float]]
    """(action, cost as a share of the monthly charge, base effect on churn)."""
    simulator: dict[str, Any]
    """The simulator's settings as bundle.json stores them, by setting name."""
    dqn: dict[str, Any] = field(default_factory=dict)
    """The DQN's hyper-parameters, by name."""


@dataclass(frozen=True)
class Outcomes:
    target: str
    customers: int
    unknown: int
    churn_rate: float
    roc_auc: float
    curves: Curves
    in_sample: bool
    """The scored file is the one the model was trained on: the figures are optimistic."""


@dataclass
class Report:
    results: Path
    models: Path
    customers: int
    mean_probability: float
    card: ModelCard
    risk: RiskView
    global_drivers: list[tuple[str, float]]
    high_risk_drivers: list[tuple[str, int]]
    high_risk_customers: int
    plan: list[ActionLine]
    budget: float | None
    unconstrained: tuple[float, float] | None
    """(spend, gain) of the policy's own choices before the budget, when a budget was set."""
    policy: PolicyQuality | None
    outcomes: Outcomes | None
    money_unit: str = ""
    """What money is counted in: a currency label, "months of charge", or "" (not known)."""
    state_columns: dict[str, str | None] = field(default_factory=dict)
    """Each state field of the policy -> the table column it was read from (None: a default)."""
    defaulted: tuple[str, ...] = ()
    """The state fields that came from a default value."""
    drift: list[tuple[str, float]] | None = None
    """(column, population stability index), largest first; None when the run record has none."""
    out_of_range: dict[str, int] = field(default_factory=dict)
    """Customers outside the training range, per state field."""
    effects: EffectsRecord | None = None
    """The effects learned from a campaign log (None: the actions' effects are assumed)."""
    realised: Realised | None = None
    """Observed churn per logged action, when the results carry outcomes and LoggedAction."""
    notes: list[str] = field(default_factory=list)

    @property
    def spend(self) -> float:
        return sum(line.spend for line in self.plan)

    @property
    def gain(self) -> float:
        return sum(line.gain for line in self.plan)


def build_report(results: Path, models: Path) -> Report:
    """Read `results` (CSV or Parquet from `score`) and the bundle in `models`; aggregate."""
    bundle = load_bundle(models)
    manifest = bundle.manifest
    if manifest.policy is not None:
        policy_weights(bundle)  # verified like the churn model, though the report only reads
    record, record_note = read_record(results) if results.is_file() else (None, None)
    notes = [record_note] if record_note else []
    if record is not None:
        _check_same_bundle(results, models, record)
    frame, high_drivers = _read_results(results, manifest)
    customers = frame.height
    probability = frame.get_column("ChurnProbability")
    risk = _risk_view(frame, record)
    high_customers = int((frame.get_column("RiskLevel") == "HIGH").sum())
    outcomes = _outcomes(frame, manifest, record, notes)
    card = _model_card(bundle)
    policy = _policy_quality(manifest, notes)
    return Report(
        results=results,
        models=models,
        customers=customers,
        mean_probability=float(probability.to_numpy().mean()),
        card=card,
        risk=risk,
        global_drivers=_global_drivers(record, notes),
        high_risk_drivers=_common_drivers(high_drivers, manifest.distributions),
        high_risk_customers=high_customers,
        plan=_plan(frame, manifest),
        budget=None if record is None else record.budget,
        unconstrained=(
            (record.unconstrained_cost, record.unconstrained_gain)
            if record is not None and record.budget is not None
            else None
        ),
        policy=policy,
        outcomes=outcomes,
        money_unit=manifest.money_unit,
        state_columns=dict(manifest.state_sources.columns),
        defaulted=tuple(manifest.state_sources.defaulted),
        drift=None if record is None else _drift(record),
        out_of_range={} if record is None else dict(record.out_of_range),
        effects=manifest.effects,
        realised=_realised(frame, manifest),
        notes=notes,
    )


def _drift(record: RunRecord) -> list[tuple[str, float]]:
    return sorted(record.drift.items(), key=lambda item: (-item[1], item[0]))


def _check_same_bundle(results: Path, models: Path, record: RunRecord) -> None:
    if sha256_file(models / MANIFEST) != record.bundle_sha256:
        raise UsageError(
            "--models",
            f"{models} is not the bundle {results.name} was scored with ({record.models})",
            "pass the scoring run's --models folder",
        )


def _read_results(results: Path, manifest: Manifest) -> tuple[pl.DataFrame, pl.Series | None]:
    """The columns the report needs, checked by the results' rules, and the top drivers of the
    HIGH-risk customers.

    Top drivers are long text: only those of HIGH-risk customers are read into memory.
    """
    parts = sorted(results.glob("*.parquet")) if results.is_dir() else [results]
    file_format: str = sniff_format(parts[0]) if parts else "folder"
    if file_format == "csv":
        file_format = json_layout(results) or "csv"
    if file_format not in ("csv", "parquet", "json", "jsonl"):
        raise DataError(
            str(results),
            f"is {file_format}, not a results file",
            "give the CSV, Parquet or JSON file (or the folder of --engine ray) that `score` wrote",
        )
    try:
        if file_format == "csv":
            lazy = pl.scan_csv(results, infer_schema=False, glob=False).rename(restored_name)
        elif file_format == "json":  # one array: read whole
            lazy = pl.read_json(results, infer_schema_length=None).lazy()
        elif file_format == "jsonl":
            lazy = pl.scan_ndjson(results, infer_schema_length=None)
        else:  # one Parquet file, or the folder of Parquet files that --engine ray writes
            lazy = pl.scan_parquet(parts, glob=False)
        present = lazy.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise damaged_file(results, file_format, error) from error
    missing = [name for name in (*_NUMBERS, *_TEXTS) if name not in present]
    if missing:
        raise DataError(
            str(results),
            f"missing result column(s) {', '.join(missing)}",
            "give the file that `aura-sentinel score` wrote, with its columns unchanged",
        )
    target = manifest.roles.target
    optional = [name for name in (*_OPTIONAL_TEXTS, *_OPTIONAL_NUMBERS, target) if name in present]
    try:
        frame = lazy.select(*_NUMBERS, *_TEXTS, *optional).collect()
        high_drivers = None
        if "TopDrivers" in present:
            high = lazy.filter(pl.col("RiskLevel") == "HIGH").select("TopDrivers").collect()
            high_drivers = high.select(restore_formulas(pl.col("TopDrivers").cast(pl.String)))
    except (pl.exceptions.PolarsError, OSError) as error:
        raise damaged_file(results, file_format, error) from error
    if frame.height == 0:
        raise DataError(str(results), "has no customers", "score a file with customers in it")
    numbers = [name for name in (*_NUMBERS, *_OPTIONAL_NUMBERS) if name in frame.columns]
    frame = frame.with_columns(
        restore_formulas(pl.col(name).cast(pl.String))
        for name in frame.columns
        if name not in numbers
    )
    rows = "row {} after the header" if file_format == "csv" else "row {}"
    for name in numbers:
        frame = frame.with_columns(_number(frame.get_column(name), results, rows))
    check_results(frame, _rules(manifest), str(results), rows, _RERUN)
    return frame, None if high_drivers is None else high_drivers.to_series()


def _rules(manifest: Manifest) -> dict[str, ColumnRule]:
    """The results' rules, but for the action names: `_plan` names an action the bundle's
    catalog lacks, and says which bundle to pass (the results' own, as a rule cannot)."""
    policy = manifest.policy
    rules = result_rules(() if policy is None else policy.settings.catalog.names)
    del rules["RecommendedAction"]
    if policy is None:  # no catalog to check the action ids against
        del rules["ActionID"]
    return rules


def _number(column: pl.Series, results: Path, rows: str) -> pl.Series:
    numbers: pl.Series = column.cast(pl.Float64, strict=False)
    bad = numbers.is_null() & column.is_not_null()
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise DataError(
            str(results),
            f"column {column.name}, {rows.format(row + 1)}: '{column[row]}' is not a number",
            _RERUN,
        )
    return numbers


def _model_card(bundle: Bundle) -> ModelCard:
    manifest = bundle.manifest
    data = manifest.training_data
    return ModelCard(
        training_file=data.file,
        training_rows=data.rows,
        training_churn_rate=data.churn_rate,
        training_sha256=data.sha256,
        metrics=dict(manifest.metrics.cv),
        folds=manifest.metrics.folds,
        trees=manifest.churn_model.trees,
        depth=manifest.churn_model.depth,
        libraries=dict(manifest.libraries),
        artifacts=dict(manifest.artifacts),
        features_used=list(bundle.spec.names),
        features_dropped=list(bundle.spec.dropped),
        cv_curves=manifest.metrics.cv_curves,
        leaks=tuple(manifest.leakage_warnings),
        sensitive=tuple(manifest.sensitive_columns),
    )


def _risk_view(frame: pl.DataFrame, record: RunRecord | None) -> RiskView:
    counts = dict.fromkeys(RISK_LEVELS, 0)
    for level, count in frame.get_column("RiskLevel").value_counts().iter_rows():
        counts[level] = int(count)
    bins = (
        frame.select(
            (pl.col("ChurnProbability") * HISTOGRAM_BINS)
            .floor()
            .clip(0, HISTOGRAM_BINS - 1)
            .cast(pl.Int64)
            .alias("bin"),
            "RiskLevel",
        )
        .group_by("bin", "RiskLevel")
        .len()
    )
    histogram = {level: [0] * HISTOGRAM_BINS for level in RISK_LEVELS}
    for bin_index, level, count in bins.iter_rows():
        histogram[level][bin_index] = int(count)
    segment_name, segment = _segment(frame)
    segments = []
    if segment is not None:
        table = (
            frame.with_columns(segment.alias("segment"))
            .group_by("segment", "RiskLevel")
            .agg(pl.len().alias("customers"), pl.col("ChurnProbability").sum().alias("p"))
        )
        for name, group in table.group_by("segment"):
            per_level = dict.fromkeys(RISK_LEVELS, 0)
            per_level.update(dict(zip(group["RiskLevel"], group["customers"], strict=True)))
            total = sum(per_level.values())
            probability_sum = float(group.get_column("p").sum())
            segments.append((str(name[0]), per_level, probability_sum / total))
        segments.sort(key=lambda item: (-sum(item[1].values()), item[0]))
        segments = _fold_small_segments(segments)
    thresholds = None if record is None else (record.high, record.medium)
    return RiskView(counts, thresholds, histogram, segment_name, segments)


def _segment(frame: pl.DataFrame) -> tuple[str | None, pl.Expr | None]:
    """Contract when the results have it, else a tenure group, else no segments."""
    if "Contract" in frame.columns and frame.get_column("Contract").null_count() < frame.height:
        return "Contract", pl.col("Contract").fill_null("(blank)")
    if "Tenure" in frame.columns and frame.get_column("Tenure").null_count() < frame.height:
        tenure = pl.col("Tenure")
        group = pl.lit("over 48 months")
        for upper, label in reversed(_TENURE_GROUPS):
            group = pl.when(tenure <= upper).then(pl.lit(label)).otherwise(group)
        return "Tenure", pl.when(tenure.is_null()).then(pl.lit("(blank)")).otherwise(group)
    return None, None


def _fold_small_segments(
    segments: list[tuple[str, dict[str, int], float]],
) -> list[tuple[str, dict[str, int], float]]:
    if len(segments) <= MAX_SEGMENTS:
        return segments
    kept, rest = segments[: MAX_SEGMENTS - 1], segments[MAX_SEGMENTS - 1 :]
    counts = {level: sum(item[1][level] for item in rest) for level in RISK_LEVELS}
    total = sum(counts.values())
    mean = sum(item[2] * sum(item[1].values()) for item in rest) / total
    return [*kept, (f"{len(rest)} others", counts, mean)]


def _global_drivers(record: RunRecord | None, notes: list[str]) -> list[tuple[str, float]]:
    if record is None or not record.driver_weight:
        if record is not None:
            notes.append("the results were scored with --no-explain: no global drivers")
        return []
    ranked = sorted(record.driver_weight.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:TOP_DRIVERS]


def _common_drivers(
    high_drivers: pl.Series | None, distributions: tuple[ColumnDistribution, ...]
) -> list[tuple[str, int]]:
    """The drivers named most often among HIGH-risk customers: "feature=value" for a category,
    "feature low-high" for the values of a number that fall in one quantile bin of the training
    data (see `_grouped_numbers`)."""
    if high_drivers is None:
        return []
    drivers = (
        high_drivers.to_frame()
        .select(pl.col("TopDrivers").str.split("; ").alias("driver"))
        .explode("driver")
        .drop_nulls()
        .filter(pl.col("driver") != "")
        .group_by("driver")
        .len()
    )
    counted = (
        _grouped_numbers(drivers, distributions)
        .sort(["len", "driver"], descending=[True, False])
        .head(TOP_DRIVERS)
    )
    return [(str(name), int(count)) for name, count in counted.iter_rows()]


def _grouped_numbers(
    drivers: pl.DataFrame, distributions: tuple[ColumnDistribution, ...]
) -> pl.DataFrame:
    """(driver, len) with the texts "feature=number" of a feature the bundle holds a number
    distribution for merged per training quantile bin, each named by the range of the values in
    it ("tenure 1-5", or "tenure 6" for one value; values outside the training range are a group
    of their own, and say so). Other drivers are kept as they are."""
    numbers = [item for item in distributions if item.kind == "number"]
    texts = drivers.get_column("driver")
    feature = np.full(texts.len(), -1)  # index into `numbers`; -1: not a binned number
    value = np.full(texts.len(), np.nan)
    bins = np.full(texts.len(), -1)
    for index, distribution in enumerate(numbers):
        prefix = f"{distribution.name}="
        parsed = texts.str.slice(len(prefix)).cast(pl.Float64, strict=False)
        chosen = (texts.str.starts_with(prefix) & parsed.is_not_null()).to_numpy()
        feature[chosen] = index
        value[chosen] = parsed.to_numpy()[chosen]
        bins[chosen] = _bin_index(distribution, value[chosen])
    frame = drivers.with_columns(feature=feature, value=value, bin=bins)
    ranges = (
        frame.filter(pl.col("feature") >= 0)
        .group_by("feature", "bin")
        .agg(pl.col("len").sum(), pl.col("value").min().alias("low"), pl.col("value").max())
        .sort("feature", "bin")
    )
    labels = []
    for index, bin_index, low, high in ranges.select("feature", "bin", "low", "value").iter_rows():
        distribution = numbers[index]
        label = f"{distribution.name} {_number_text(low)}"
        label += "" if high == low else f"-{_number_text(high)}"
        if bin_index == 0:
            label += " (below the training range)"
        elif bin_index == len(distribution.edges) + 2:
            label += " (above the training range)"
        labels.append(label)
    return pl.concat(
        [
            frame.filter(pl.col("feature") < 0).select("driver", "len"),
            ranges.select(pl.Series("driver", labels, dtype=pl.String), "len"),
        ]
    )


def _bin_index(
    distribution: ColumnDistribution, values: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The training quantile bin of each value (bin i holds the values from edges[i - 1] up to,
    not including, edges[i]); values below the training minimum or above its maximum get bins
    of their own."""
    edges = np.asarray(distribution.edges, dtype=np.float64)
    inside = np.searchsorted(edges, values, side="right") + 1
    below = values < distribution.low
    above = values > distribution.high
    return np.where(below, 0, np.where(above, len(edges) + 2, inside))


def _number_text(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _plan(frame: pl.DataFrame, manifest: Manifest) -> list[ActionLine]:
    names = [] if manifest.policy is None else list(manifest.policy.settings.catalog.names)
    totals = (
        frame.group_by("RecommendedAction")
        .agg(
            pl.len().alias("customers"),
            pl.col("ActionCost").sum().alias("spend"),
            pl.col("ExpectedGain").sum().alias("gain"),
        )
        .rows_by_key("RecommendedAction", unique=True)
    )
    by_risk: dict[str, dict[str, int]] = {name: dict.fromkeys(RISK_LEVELS, 0) for name in names}
    for action, level, count in frame.group_by("RecommendedAction", "RiskLevel").len().iter_rows():
        by_risk.setdefault(action, dict.fromkeys(RISK_LEVELS, 0))[level] = int(count)
    unknown = sorted(str(name) for name in totals if name not in names)
    if unknown:
        raise UsageError(
            "--models",
            f"the results recommend '{unknown[0]}', which this bundle's action catalog lacks",
            "pass the --models folder the results were scored with",
        )
    return [
        ActionLine(
            name,
            int(totals[name][0]),
            float(totals[name][1]),
            float(totals[name][2]),
            by_risk[name],
        )
        if name in totals
        else ActionLine(name, 0, 0.0, 0.0, by_risk[name])
        for name in names
    ]


def _policy_quality(manifest: Manifest, notes: list[str]) -> PolicyQuality | None:
    if manifest.policy is None:
        notes.append("the bundle has no retention policy (trained with --skip-policy)")
        return None
    settings = manifest.policy.settings
    catalog = settings.catalog
    return PolicyQuality(
        evaluation=manifest.policy.evaluation,
        catalog=list(
            zip(catalog.names, catalog.cost_shares, action_effects(settings), strict=True)
        ),
        simulator=dict(settings.to_json()["simulator"]),
        dqn=dict(settings.to_json()["dqn"]),
    )


def action_effects(settings: PolicySettings) -> tuple[float, ...]:
    """The base effect of each action on churn, in catalog order (the one place it is read)."""
    return settings.catalog.effects


def _outcomes(
    frame: pl.DataFrame, manifest: Manifest, record: RunRecord | None, notes: list[str]
) -> Outcomes | None:
    target = manifest.roles.target
    if target not in frame.columns:
        return None
    problems: list[str] = []
    outcome, unknown = parse_outcome(frame.get_column(target), problems)
    if problems:
        notes.append(f"real outcomes not assessed: {problems[0]}")
        return None
    known = ~unknown
    probability = frame.get_column("ChurnProbability").to_numpy()[known]
    churned = outcome[known]
    return Outcomes(
        target=target,
        customers=int(known.sum()),
        unknown=int(unknown.sum()),
        churn_rate=float(churned.mean()),
        roc_auc=roc_auc(churned, probability),
        curves=performance_curves(churned, probability),
        in_sample=_is_training_data(record, manifest),
    )


def _realised(frame: pl.DataFrame, manifest: Manifest) -> Realised | None:
    """The realised result, when the results carry the outcome and the logged action."""
    target = manifest.roles.target
    if manifest.policy is None or not {target, LOGGED_ACTION} <= set(frame.columns):
        return None
    problems: list[str] = []
    churned, unknown = parse_outcome(frame.get_column(target), problems)
    if problems:  # said once already, by the outcomes' note
        return None
    return realised_result(
        frame.get_column(LOGGED_ACTION),
        frame.get_column("RecommendedAction"),
        churned,
        unknown,
        manifest.policy.settings.catalog.names,
    )


def _is_training_data(record: RunRecord | None, manifest: Manifest) -> bool:
    if record is None:
        return False
    data = Path(record.data)
    if not data.is_file() or data.stat().st_size == 0:
        return False
    return sha256_file(data) == manifest.training_data.sha256


def top_share_table(curves: Curves) -> list[tuple[float, float, float]]:
    """(share contacted, churners captured, lift) at the TOP_SHARES."""
    return [(share, curves.capture_at(share), curves.lift_at(share)) for share in TOP_SHARES]

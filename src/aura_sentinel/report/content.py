"""What the report says: every number, from the results file, the bundle and the run record.

Only the columns the report needs are read, and everything shown is an aggregate (counts per band,
per action, per segment, a fixed-size histogram and curves), so a results file of millions of rows
gives a report of the same size as one of a thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from aura_sentinel.bundle import MANIFEST, Bundle, Manifest, load_bundle, policy_weights
from aura_sentinel.curves import Curves, performance_curves
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.io import damaged_file, sha256_file, sniff_format
from aura_sentinel.metrics import roc_auc
from aura_sentinel.record import RunRecord, read_record
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

HISTOGRAM_BINS = 20
TOP_SHARES = (0.1, 0.2)
MAX_SEGMENTS = 8
TOP_DRIVERS = 10
_NUMBERS = ("ChurnProbability", "ActionCost", "ExpectedGain")
_TEXTS = ("RiskLevel", "RecommendedAction")
_OPTIONAL_TEXTS = ("Contract",)
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
    features_used: list[str]
    features_dropped: list[tuple[str, str]]
    cv_curves: Curves | None


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

    @property
    def return_on_spend(self) -> float | None:
        return self.gain / self.spend if self.spend > 0 else None


@dataclass(frozen=True)
class PolicyQuality:
    evaluation: PolicyEvaluation
    catalog: list[tuple[str, float, float]]
    """(action, cost as a share of the monthly charge, base effect on churn)."""
    simulator: dict[str, Any]


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
        high_risk_drivers=_common_drivers(high_drivers),
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
        notes=notes,
    )


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
    file_format = sniff_format(parts[0]) if parts else "folder"
    if file_format not in ("csv", "parquet"):
        raise DataError(
            str(results),
            f"is {file_format}, not a results file",
            "give the CSV or Parquet file (or the folder of --engine ray) that `score` wrote",
        )
    try:
        if file_format == "csv":
            lazy = pl.scan_csv(results, infer_schema=False, glob=False).rename(restored_name)
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
        features_used=list(bundle.spec.names),
        features_dropped=list(bundle.spec.dropped),
        cv_curves=manifest.metrics.cv_curves,
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


def _common_drivers(high_drivers: pl.Series | None) -> list[tuple[str, int]]:
    """The drivers (feature=value) named most often among HIGH-risk customers."""
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
        .sort(["len", "driver"], descending=[True, False])
        .head(TOP_DRIVERS)
    )
    return [(str(name), int(count)) for name, count in drivers.iter_rows()]


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
    unknown = sorted(str(name) for name in totals if name not in names)
    if unknown:
        raise UsageError(
            "--models",
            f"the results recommend '{unknown[0]}', which this bundle's action catalog lacks",
            "pass the --models folder the results were scored with",
        )
    return [
        ActionLine(name, int(totals[name][0]), float(totals[name][1]), float(totals[name][2]))
        if name in totals
        else ActionLine(name, 0, 0.0, 0.0)
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

"""`train`: from a customer file to a verified model bundle, and a summary of what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from aura_sentinel.bundle import save_bundle
from aura_sentinel.churn import Candidate, Progress, train_churn_model
from aura_sentinel.errors import UsageError
from aura_sentinel.features import fit_feature_spec
from aura_sentinel.io import read_customers, sha256_file
from aura_sentinel.leakage import leaking_features
from aura_sentinel.schema import prepare_training_table, resolve_roles


@dataclass(frozen=True)
class TrainOptions:
    target: str | None = None
    identifier: str | None = None
    excluded: tuple[str, ...] = ()
    folds: int = 5
    seed: int = 42


@dataclass
class TrainSummary:
    data: Path
    models: Path
    rows: int
    churn_rate: float
    features_used: list[str]
    features_dropped: list[tuple[str, str]]
    leaks: list[tuple[str, float]]
    candidates: list[Candidate]
    chosen: Candidate
    metrics: dict[str, float]
    seconds: float
    notes: list[str] = field(default_factory=list)


def train(
    data: Path, models: Path, options: TrainOptions, progress: Progress | None = None
) -> TrainSummary:
    """Read and check the data, cross-validate and fit the churn model, save the bundle."""
    started = time.perf_counter()
    if options.folds < 2:
        raise UsageError(
            "--folds", f"{options.folds} is too few", "use 2 or more folds (5 is usual)"
        )
    source = str(data)
    frame = read_customers(data)
    roles = resolve_roles(
        frame.columns, source, options.target, options.identifier, options.excluded
    )
    table = prepare_training_table(frame, roles, source)
    smallest_class = int(min(table.outcome.sum(), table.outcome.size - table.outcome.sum()))
    if smallest_class < options.folds:
        raise UsageError(
            "--folds",
            f"{options.folds} folds need at least {options.folds} customers of each outcome; "
            f"{source} has {smallest_class} in its smaller class",
            "use fewer folds or more data",
        )
    spec = fit_feature_spec(table.features, source)
    matrix = spec.matrix(table.features, source)
    leaks = leaking_features(matrix, spec, table.outcome)
    result = train_churn_model(
        matrix, table.outcome, spec.xgboost_types, options.folds, options.seed, progress=progress
    )
    churn_rate = float(table.outcome.mean())
    details = {
        "training_data": {
            "file": data.name,
            "rows": int(table.outcome.size),
            "sha256": sha256_file(data),
            "churn_rate": churn_rate,
        },
        "churn_model": {
            "file": "churn_model.ubj",
            "trees": result.chosen.rounds,
            "depth": result.chosen.depth,
            "leaves": _count_leaves(result.booster.get_dump()),
            "candidates": [
                {
                    "depth": candidate.depth,
                    "rounds": candidate.rounds,
                    "roc_auc": candidate.roc_auc,
                    "log_loss": candidate.log_loss,
                }
                for candidate in result.candidates
            ],
        },
        "metrics": {"cv": result.metrics, "folds": options.folds, "seed": options.seed},
        "leakage_warnings": [{"column": name, "roc_auc": auc} for name, auc in leaks],
    }
    save_bundle(models, result.booster, spec, roles, details)
    return TrainSummary(
        data=data,
        models=models,
        rows=int(table.outcome.size),
        churn_rate=churn_rate,
        features_used=spec.names,
        features_dropped=list(spec.dropped),
        leaks=leaks,
        candidates=result.candidates,
        chosen=result.chosen,
        metrics=result.metrics,
        seconds=time.perf_counter() - started,
        notes=table.notes,
    )


def _count_leaves(tree_dumps: list[str]) -> int:
    return sum(dump.count("leaf=") for dump in tree_dumps)

"""`train`: from a customer file to a verified model bundle, and a summary of what happened.

The churn model comes first; then the retention policy is trained on states built from the
churn model's out-of-fold probabilities (what the model says about customers it did not see,
like the customers it will score), and examined exactly on held-out customers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from aura_sentinel.bundle import (
    CHURN_MODEL,
    FEATURE_SPEC_ATTRIBUTE,
    POLICY_WEIGHTS,
    ChurnRecord,
    Manifest,
    Metrics,
    PolicyRecord,
    TrainingData,
    artifact_hashes,
    bundle_folder,
    churn_model_bytes,
    feature_spec_text,
    library_versions,
    load_bundle,
    save_bundle,
)
from aura_sentinel.churn import (
    Candidate,
    Progress,
    predict_probability,
    predict_with_threads,
    train_churn_model,
)
from aura_sentinel.curves import performance_curves
from aura_sentinel.drift import fit_distributions, with_state
from aura_sentinel.effects.inference import tried_actions
from aura_sentinel.effects.learn import LearnedEffects, LogContext, learn_effects
from aura_sentinel.effects.log import CampaignLog, LogColumns, read_campaign_log
from aura_sentinel.effects.models import EffectModel, effect_model_artifacts
from aura_sentinel.effects.record import EffectsRecord, LogFingerprint
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.features import FeatureSpec, fit_feature_spec
from aura_sentinel.io import read_customers, sha256_file
from aura_sentinel.leakage import LeakWarning, contribution_shares, leak_warnings
from aura_sentinel.outputs import check_outputs
from aura_sentinel.results import named_like_result
from aura_sentinel.retention.config import PolicySettings, simulator_for
from aura_sentinel.retention.evaluation import RISK_RULE_HIGH, RISK_RULE_MEDIUM, PolicyEvaluation
from aura_sentinel.retention.state import (
    STATE_COLUMNS,
    StateAssumptions,
    StateSources,
    build_state,
    check_state_columns,
    learned_effect_columns,
    resolve_state_sources,
    state_assumptions,
)
from aura_sentinel.schema import ColumnRoles, TrainingTable, prepare_training_table, resolve_roles
from aura_sentinel.sensitive import SensitiveColumn, sensitive_columns
from aura_sentinel.threads import check_threads, default_threads, torch_threads
from aura_sentinel.units import currency_problem


@dataclass(frozen=True)
class TrainOptions:
    target: str | None = None
    identifier: str | None = None
    excluded: tuple[str, ...] = ()
    folds: int = 5
    seed: int = 42
    policy_settings: PolicySettings = field(default_factory=PolicySettings)
    churn: bool = True
    """Train the churn model (False: --policy-only, reuse the bundle's churn model)."""
    policy: bool = True
    """Train the retention policy (False: --skip-policy)."""
    columns: dict[str, str] = field(default_factory=dict)
    """The column to read each named state field from (--column role=NAME, [columns])."""
    currency: str | None = None
    """The label of the table's money (--currency), stored in the bundle."""
    threads: int = field(default_factory=default_threads)
    """Threads to use (--threads); the bundle's bytes are the same for any number."""
    policy_config: Path | None = None
    """The policy config file the settings came from: an input the bundle may not replace."""
    campaigns: Path | None = None
    """A campaign log to learn the actions' effects from (--campaigns); None: effects assumed."""
    log_columns: LogColumns = field(default_factory=LogColumns)
    """The log's action and propensity columns (--action-column, --propensity-column)."""


@dataclass
class ChurnSummary:
    rows: int
    churn_rate: float
    features_used: list[str]
    features_dropped: list[tuple[str, str]]
    leaks: list[LeakWarning]
    sensitive: list[SensitiveColumn]
    candidates: list[Candidate]
    chosen: Candidate
    metrics: dict[str, float]


@dataclass
class TrainSummary:
    data: Path
    models: Path
    seconds: float
    churn: ChurnSummary | None
    policy: PolicyEvaluation | None
    policy_training_customers: int = 0
    notes: list[str] = field(default_factory=list)
    state: StateAssumptions | None = None
    """What the policy's state was read from, and what it assumed (None: no policy trained)."""
    money_unit: str = ""
    effects: EffectsRecord | None = None
    """What the campaign log taught about each action (None: effects assumed)."""


def train(
    data: Path, models: Path, options: TrainOptions, progress: Progress | None = None
) -> TrainSummary:
    """Read and check the data, fit the churn model and the policy, save the bundle."""
    started = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    if not (options.churn or options.policy):
        raise UsageError("--skip-policy", "cannot be combined with --policy-only", "pick one")
    if options.folds < 2:
        raise UsageError(
            "--folds", f"{options.folds} is too few", "use 2 or more folds (5 is usual)"
        )
    problem = None if options.currency is None else currency_problem(options.currency)
    if problem is not None:
        raise UsageError("--currency", f"{options.currency!r} {problem}", "give a label like EUR")
    check_threads(options.threads)
    source = str(data)
    reads = [data, *(path for path in (options.policy_config, options.campaigns) if path)]
    check_outputs(reads, folder=bundle_folder(models))  # refused now, not after training
    log = None
    notes = []
    if options.campaigns is not None:
        report(0.0, f"reading {options.campaigns.name}")
        log = read_campaign_log(
            options.campaigns,
            options.policy_settings.catalog,
            options.log_columns,
            _log_roles(options, models, str(options.campaigns)),
        )
        # too few no-action rows is refused now, not after the churn model is trained
        tried_actions(log.actions, options.policy_settings.catalog.size, log.source)
    if log is not None and _same_file(data, log.path):
        frame = log.no_action_rows().table.customers
        notes.append(f"the churn model learned from the log's {frame.height:,} rows with no action")
    else:
        report(0.0, f"reading {data.name}")
        frame = read_customers(data)
    sources = resolve_state_sources(frame.columns, options.columns, source)
    if options.policy:
        check_state_columns(frame, sources, source)

    churn_share = (0.4 if options.policy else 1.0) * (0.5 if log else 1.0)
    effects_share = 0.0 if log is None else churn_share
    probability: npt.NDArray[np.floating[Any]]
    if options.churn:
        roles = resolve_roles(
            frame.columns, source, options.target, options.identifier, options.excluded
        )
        _refuse_result_names(roles, source)
        table = prepare_training_table(frame, roles, source)
        fingerprint = _fingerprint(data, table)
        spec, model, probability, record, churn = _train_churn(
            table,
            roles,
            fingerprint,
            options,
            lambda done, message: report(churn_share * done, message),
            source,
        )
    else:
        existing = load_bundle(models)
        roles, spec = existing.roles, existing.spec
        table = prepare_training_table(frame, roles, source)
        fingerprint = _fingerprint(data, table)
        model = churn_model_bytes(existing)
        predict_with_threads(existing.booster, options.threads)
        probability = predict_probability(
            existing.booster, spec.matrix(table.customers, source), spec.xgboost_types
        )
        # the churn record, kept as it is; effects are learned anew or not at all
        record = replace(existing.manifest, policy=None, effects=None)
        churn = None

    artifacts = {CHURN_MODEL: model}
    effects = None
    effect_model = None
    if log is not None:
        learned = _learn_effects(
            log,
            model,
            spec,
            sources,
            options,
            lambda done, message: report(churn_share + effects_share * done, message),
        )
        effects = learned.record
        effect_model = EffectModel(learned.record, learned.learner)
        artifacts |= effect_model_artifacts(learned.learner)
        record = replace(record, effects=effects)
    evaluation = None
    training_customers = 0
    if options.policy:
        from aura_sentinel.retention.policy import customer_states, train_policy  # imports torch

        settings = options.policy_settings
        state = customer_states(table.customers, probability, settings, sources)
        tried = None
        columns: tuple[str, ...] = STATE_COLUMNS
        if effect_model is not None:  # the policy plans on the learned effects
            state, _ = effect_model.learned_state(
                table.customers, state, settings.simulator, source
            )
            tried = effect_model.record.tried
            columns = learned_effect_columns(settings.catalog.size)
        with torch_threads(options.threads):  # the DQN itself trains on one
            trained = train_policy(
                state,
                settings,
                options.seed,
                lambda done, message: report(
                    churn_share + effects_share + (1 - churn_share - effects_share) * done,
                    message,
                ),
                tried,
            )
        artifacts[POLICY_WEIGHTS] = trained.weights()
        record = replace(
            record,
            distributions=with_state(record.distributions, state),
            policy=PolicyRecord(
                settings=settings,
                evaluation=trained.evaluation,
                training_customers=trained.training_customers,
                training_data=fingerprint,
                seed=options.seed,
                state_columns=columns,
            ),
        )
        evaluation, training_customers = trained.evaluation, trained.training_customers

    manifest = replace(
        record,
        libraries=library_versions(),
        artifacts=artifact_hashes(artifacts),
        state_sources=sources,
        currency=options.currency,
    )
    report(1.0, f"writing the bundle to {models}")
    save_bundle(models, manifest, artifacts, reads)
    return TrainSummary(
        data=data,
        models=models,
        seconds=time.perf_counter() - started,
        churn=churn,
        policy=evaluation,
        policy_training_customers=training_customers,
        notes=notes + table.notes + (log.notes if log else []),
        state=None
        if evaluation is None
        else state_assumptions(
            sources, options.policy_settings.simulator.response_prior, given=options.columns
        ),
        money_unit=manifest.money_unit,
        effects=effects,
    )


def _log_roles(
    options: TrainOptions, models: Path, source: str
) -> Callable[[list[str]], ColumnRoles]:
    """The log's outcome, id and left-out columns: the churn model's when it is reused
    (--policy-only), else those given, read on the log's own columns."""
    if not options.churn:
        roles = load_bundle(models).roles
        return lambda names: roles

    def resolved(names: list[str]) -> ColumnRoles:
        excluded = tuple(name for name in options.excluded if name in names)
        return resolve_roles(names, source, options.target, options.identifier, excluded)

    return resolved


def _same_file(first: Path, second: Path) -> bool:
    try:
        return first.samefile(second)
    except OSError:
        return False


def _learn_effects(
    log: CampaignLog,
    model: bytes,
    spec: FeatureSpec,
    sources: StateSources,
    options: TrainOptions,
    progress: Progress,
) -> LearnedEffects:
    """Learn the effects from the log, with the churn model's view of its customers."""
    settings = options.policy_settings
    customers = log.table.customers
    check_state_columns(customers, sources, log.source)
    churn_probability = None
    if set(spec.names) <= set(customers.columns):
        booster = xgb.Booster()
        booster.load_model(bytearray(model))
        predict_with_threads(booster, options.threads)
        matrix = spec.matrix(customers, log.source)
        churn_probability = predict_probability(booster, matrix, spec.xgboost_types).astype(
            np.float64
        )
    state = build_state(
        customers,
        np.zeros(log.rows) if churn_probability is None else churn_probability,
        settings.simulator.response_prior,
        sources,
    )
    present = sources.within(customers.columns)
    context = LogContext(
        state=state,
        churn_probability=churn_probability,
        segmented=tuple(role for role in ("contract", "tenure") if present.column(role)),
        risk_thresholds=(RISK_RULE_MEDIUM, RISK_RULE_HIGH),
    )
    simulator = simulator_for(settings)
    horizon = settings.simulator.campaign_horizon
    return learn_effects(
        log,
        LogFingerprint(file=log.path.name, rows=log.rows, sha256=sha256_file(log.path)),
        simulator,
        context,
        horizon,
        options.folds,
        options.seed,
        options.threads,
        progress,
    )


def _refuse_result_names(roles: ColumnRoles, source: str) -> None:
    """A target or id column named like a results column would be confused with it."""
    for role, name, option in (("target", roles.target, "--target"), ("id", roles.id, "--id")):
        if name is not None and named_like_result(name, role):
            raise DataError(
                source,
                f"the {role} column '{name}' has the name of a column `score` writes",
                f"rename that column in the file (or pick another column with {option})",
            )


def _train_churn(
    table: TrainingTable,
    roles: ColumnRoles,
    fingerprint: TrainingData,
    options: TrainOptions,
    progress: Progress,
    source: str,
) -> tuple[FeatureSpec, bytes, npt.NDArray[np.float64], Manifest, ChurnSummary]:
    """Fit the churn model; return its spec, bytes, out-of-fold probabilities and the bundle's
    record of it (without the policy, the libraries, the artifacts and the column map)."""
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
    result = train_churn_model(
        matrix,
        table.outcome,
        spec.xgboost_types,
        options.folds,
        options.seed,
        progress=progress,
        threads=options.threads,
    )
    # Each feature's share of the final model's weight, for the leak and the sensitive checks.
    shares = contribution_shares(result.booster, matrix, spec.xgboost_types)
    leaks = leak_warnings(matrix, spec, table.outcome, shares)
    candidates = [name for name in table.customers.columns if name not in (roles.target, roles.id)]
    sensitive = sensitive_columns(candidates, spec, shares)
    record = Manifest(
        roles=roles,
        features=spec,
        training_data=fingerprint,
        churn_model=ChurnRecord(
            trees=result.chosen.rounds,
            depth=result.chosen.depth,
            learning_rate=result.chosen.learning_rate,
            leaves=_count_leaves(result.booster.get_dump()),
            candidates=tuple(result.candidates),
        ),
        metrics=Metrics(
            cv=result.metrics,
            cv_curves=performance_curves(table.outcome, result.out_of_fold),
            folds=options.folds,
            seed=options.seed,
        ),
        leakage_warnings=tuple(leaks),
        sensitive_columns=tuple(sensitive),
        policy=None,
        libraries={},
        artifacts={},
        distributions=fit_distributions(spec, matrix),
        state_sources=StateSources({}),
        currency=options.currency,
    )
    summary = ChurnSummary(
        rows=int(table.outcome.size),
        churn_rate=float(table.outcome.mean()),
        features_used=spec.names,
        features_dropped=list(spec.dropped),
        leaks=leaks,
        sensitive=sensitive,
        candidates=result.candidates,
        chosen=result.chosen,
        metrics=result.metrics,
    )
    # The model file carries its feature list, so a bundle.json that disagrees is detected.
    result.booster.set_attr(**{FEATURE_SPEC_ATTRIBUTE: feature_spec_text(spec)})
    model = bytes(result.booster.save_raw(raw_format="ubj"))
    return spec, model, result.out_of_fold, record, summary


def _fingerprint(data: Path, table: TrainingTable) -> TrainingData:
    return TrainingData(
        file=data.name,
        rows=int(table.outcome.size),
        sha256=sha256_file(data),
        churn_rate=float(table.outcome.mean()),
    )


def _count_leaves(tree_dumps: list[str]) -> int:
    return sum(dump.count("leaf=") for dump in tree_dumps)

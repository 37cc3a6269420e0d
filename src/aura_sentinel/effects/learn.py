"""Learn what each action does from a campaign log, and evaluate plans on it off-line.

The steps, each on the same cross-fitting folds so that every row's estimates come from models
that never saw it:

1. propensities: logged, or estimated by a multinomial model (then effects rest on "no
   unmeasured confounding");
2. the T-learner's per-action churn models, which give every row's doubly-robust (AIPW) scores;
3. the T-, S-, X- and DR-learners, each scored on held-out rows by the doubly-robust uplift
   curve; the best one wins;
4. its per-customer effects shrunk towards their segment's AIPW mean by a slope fitted on
   held-out rows (noise is shrunk, real differences kept);
5. average and segment effects with 95% intervals (AIPW influence function);
6. the recommended one-step plan, and off-policy estimates of it and of the usual rules;
7. the winning learner refitted on every row, for scoring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aura_sentinel.effects.calibration import hazard_effects
from aura_sentinel.effects.inference import (
    aipw_scores,
    average_effects,
    segment_effects,
    shrink_effects,
    tried_actions,
)
from aura_sentinel.effects.learners import (
    LEARNERS,
    FittedLearner,
    LearningData,
    cross_fit,
    fit_final,
)
from aura_sentinel.effects.log import CampaignLog
from aura_sentinel.effects.offpolicy import LoggedRows, OffPolicyTable
from aura_sentinel.effects.planning import (
    action_costs,
    action_values,
    best_actions,
    kept_value,
    risk_rule,
    treat_the_riskiest,
)
from aura_sentinel.effects.propensity import estimate_propensities
from aura_sentinel.effects.qini import dr_uplift_auc, select_learner
from aura_sentinel.effects.record import CONTROLLABLE, EffectsRecord, LogFingerprint
from aura_sentinel.effects.shrinkage import (
    CONTRACTS,
    TENURE_LABELS,
    Shrinkage,
    contract_codes,
    shrinkage_cells,
    tenure_bands,
)
from aura_sentinel.effects.start import ChurnStart
from aura_sentinel.features import fit_feature_spec
from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.retention.simulator import Simulator
from aura_sentinel.retention.state import StateMatrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[float, str], None]

RISK_LABELS = ("low", "medium", "high")


@dataclass(frozen=True)
class LogContext:
    """What the log's rows need from the rest of the bundle."""

    state: StateMatrix
    """Each row's customer state (contract, tenure and charge, from the bundle's column map)."""
    churn_probability: FloatArray | None
    """The churn model's probability for each row; None when the log lacks its columns."""
    segmented: tuple[str, ...]
    """The state fields read from the log's own columns ("contract", "tenure"), not defaulted."""
    risk_thresholds: tuple[float, float]
    """(medium, high) churn probability thresholds of the risk levels."""


@dataclass(frozen=True)
class LearnedEffects:
    record: EffectsRecord
    learner: FittedLearner


def learn_effects(
    log: CampaignLog,
    fingerprint: LogFingerprint,
    simulator: Simulator,
    context: LogContext,
    horizon_months: float,
    folds: int,
    seed: int,
    threads: int,
    progress: Progress,
) -> LearnedEffects:
    catalog = simulator.catalog
    source = log.source
    spec = fit_feature_spec(log.table.features, source)
    matrix = spec.matrix(log.table.features, source)
    actions, churned = log.actions, log.churned
    start = None
    starting_churn = None
    if context.churn_probability is not None:
        start = _churn_start(context.churn_probability, actions, churned, horizon_months, simulator)
        starting_churn = start.apply(context.churn_probability)
    data = LearningData(matrix, spec.xgboost_types, actions, churned, catalog.size, starting_churn)
    tried = tried_actions(actions, catalog.size, source)
    fold_ids = stratified_folds(actions, churned, folds, seed)

    progress(0.0, "estimating propensities")
    propensities = estimate_propensities(
        matrix,
        spec.xgboost_types,
        actions,
        catalog.size,
        fold_ids,
        seed,
        threads,
        log.propensity,
        tried=tried,
    )
    weights = propensities.logged_action
    progress(0.15, "fitting the T-learner")
    t_oof = cross_fit("T", data, fold_ids, propensities.all, weights, tried, seed, threads, None)
    scores = aipw_scores(churned, actions, weights, t_oof)

    out_of_fold = {"T": t_oof}
    criteria: dict[str, float] = {}
    criteria_errors: dict[str, float] = {}
    for step, learner in enumerate(LEARNERS):
        if learner not in out_of_fold:
            progress(0.15 + 0.15 * step, f"fitting the {learner}-learner")
            out_of_fold[learner] = cross_fit(
                learner, data, fold_ids, propensities.all, weights, tried, seed, threads, t_oof
            )
        criteria[learner], criteria_errors[learner] = _criterion(
            out_of_fold[learner], scores, tried, fold_ids
        )
    chosen = select_learner(criteria, criteria_errors)

    churn_oof = out_of_fold[chosen]
    segments = _segments(context, churn_oof[:, 0], horizon_months, simulator)
    cells = shrinkage_cells(context.state, context.segmented)
    estimated = churn_oof - churn_oof[:, :1]
    shrinkage = _shrinkage(estimated, scores, tried, cells)
    held_out = _held_out_shrunk(estimated, scores, tried, cells, fold_ids)
    churn_shrunk = np.clip(churn_oof[:, :1] + held_out, 0.0, 1.0)
    _, calibration = hazard_effects(
        churn_shrunk[:, 0], churn_shrunk, horizon_months, simulator.settings.max_effect
    )

    worth = kept_value(simulator, context.state, horizon_months)
    costs = action_costs(catalog, context.state)
    recommended = best_actions(action_values(churn_shrunk, worth, costs), tried)
    progress(0.8, "evaluating plans off-line")
    off_policy = _off_policy(
        catalog,
        tried,
        recommended,
        _risk(context, churn_oof[:, 0], horizon_months, simulator),
        LoggedRows(actions, churned, weights, t_oof, worth, costs),
    )
    progress(0.85, f"refitting the {chosen}-learner on every row")
    final = fit_final(chosen, data, weights, tried, seed, threads, t_oof, churn_oof)
    record = EffectsRecord(
        log=fingerprint,
        horizon_months=horizon_months,
        action_column=log.action_column,
        action_names=catalog.names,
        action_rows=tuple(int(np.sum(actions == a)) for a in range(catalog.size)),
        tried=tried,
        features=spec,
        propensity=propensities.diagnostics,
        learner=chosen,
        criteria=criteria,
        criteria_errors=criteria_errors,
        shrinkage=shrinkage,
        cell_fields=context.segmented,
        average=tuple(average_effects(scores, tried)),
        segments=tuple(segment_effects(scores, tried, segments)),
        off_policy=off_policy,
        controllable=tuple(name for name in CONTROLLABLE if name in spec.names),
        recommended_share=float(np.mean(recommended != 0)),
        calibration=calibration,
        start=start,
    )
    return LearnedEffects(record, final)


def _churn_start(
    churn_probability: FloatArray,
    actions: IntArray,
    churned: FloatArray,
    horizon: float,
    simulator: Simulator,
) -> ChurnStart:
    """What the learners start from (see `effects.start`), recalibrated on the no-action rows."""
    no_action = actions == 0
    power = horizon / simulator.settings.churn_horizon_months
    return ChurnStart.fitted(churn_probability[no_action], churned[no_action], power)


def stratified_folds(actions: IntArray, churned: FloatArray, folds: int, seed: int) -> IntArray:
    """A fold id per row, each action x outcome cell dealt round the folds in a seeded order."""
    rng = np.random.default_rng(seed)
    fold_ids = np.zeros(actions.size, dtype=np.int64)
    cells = actions * 2 + (churned > 0.5)
    for cell in np.unique(cells):
        rows = np.flatnonzero(cells == cell)
        fold_ids[rng.permutation(rows)] = np.arange(rows.size) % folds
    return fold_ids


def _shrinkage(
    estimated: FloatArray, scores: FloatArray, tried: tuple[bool, ...], cells: IntArray
) -> Shrinkage:
    effects, slopes = shrink_effects(estimated, scores, tried, cells)
    return Shrinkage.fitted(estimated, effects, slopes, cells)


def _held_out_shrunk(
    estimated: FloatArray,
    scores: FloatArray,
    tried: tuple[bool, ...],
    cells: IntArray,
    fold_ids: IntArray,
) -> FloatArray:
    """Each row's shrunk effects by the rule fitted on the other folds: the plan evaluated
    off-line never saw the outcome of the row it is judged on (else its segment anchors would
    carry that outcome, and the evaluation would flatter it)."""
    shrunk = np.zeros_like(estimated)
    for fold in np.unique(fold_ids):
        held = fold_ids == fold
        rule = _shrinkage(estimated[~held], scores[~held], tried, cells[~held])
        shrunk[held] = rule.apply(estimated[held], cells[held])
    return shrunk


def _criterion(
    churn_oof: FloatArray, scores: FloatArray, tried: tuple[bool, ...], fold_ids: IntArray
) -> tuple[float, float]:
    """The held-out doubly-robust uplift AUC averaged over the tried actions, on each fold's
    rows: (the mean over the folds, its standard error)."""
    per_fold = []
    for fold in np.unique(fold_ids):
        rows = fold_ids == fold
        values = [
            dr_uplift_auc(
                churn_oof[rows, 0] - churn_oof[rows, a], scores[rows, 0] - scores[rows, a]
            )
            for a in range(1, len(tried))
            if tried[a]
        ]
        per_fold.append(float(np.mean(values)) if values else 0.0)
    error = float(np.std(per_fold, ddof=1) / np.sqrt(len(per_fold))) if len(per_fold) > 1 else 0.0
    return float(np.mean(per_fold)), error


def _risk(
    context: LogContext, churn_no_action: FloatArray, horizon: float, simulator: Simulator
) -> FloatArray:
    """Each row's churn probability over the churn horizon: the churn model's when the log has
    its columns, else the no-action churn learned from the log, carried to that horizon."""
    if context.churn_probability is not None:
        return context.churn_probability
    months = simulator.settings.churn_horizon_months
    survival = np.clip(1.0 - churn_no_action, 0.0, 1.0)
    risk: FloatArray = 1.0 - survival ** (months / horizon)
    return risk


def _segments(
    context: LogContext, churn_no_action: FloatArray, horizon: float, simulator: Simulator
) -> dict[str, tuple[IntArray, tuple[str, ...]]]:
    """The segmentations effects are reported by: contract, tenure band and risk level."""
    segments: dict[str, tuple[IntArray, tuple[str, ...]]] = {}
    state = context.state
    if "contract" in context.segmented:
        segments["contract"] = (contract_codes(state), CONTRACTS)
    if "tenure" in context.segmented:
        segments["tenure"] = (tenure_bands(state), TENURE_LABELS)
    risk = _risk(context, churn_no_action, horizon, simulator)
    medium, high = context.risk_thresholds
    levels = np.where(risk > high, 2, np.where(risk > medium, 1, 0)).astype(np.int64)
    segments["risk"] = (levels, RISK_LABELS)
    return segments


def _off_policy(
    catalog: ActionCatalog,
    tried: tuple[bool, ...],
    recommended: IntArray,
    risk: FloatArray,
    rows: LoggedRows,
) -> OffPolicyTable:
    """Off-policy estimates, on held-out rows, of the plan and the rules it is compared with.

    A rule that uses an action the log never tried cannot be evaluated and is left out."""
    count = rows.actions.size
    policies = {"no_action": np.zeros(count, dtype=np.int64)}
    for action in range(1, catalog.size):
        if tried[action]:
            policies[f"always:{catalog.names[action]}"] = np.full(count, action, dtype=np.int64)
    singles = [name for name in policies if name.startswith("always:")]
    rule = risk_rule(catalog, risk)
    if all(tried[action] for action in np.unique(rule)):
        policies["risk_rule"] = rule
    values = {name: rows.evaluate(name, policy) for name, policy in policies.items()}
    best_single = max(singles, key=lambda name: values[name].value["dr"].estimate, default=None)
    if best_single is not None:
        action = int(policies[best_single][0])
        riskiest = treat_the_riskiest(risk, int(np.sum(recommended != 0)), action)
        values["treat_the_riskiest"] = rows.evaluate("treat_the_riskiest", riskiest)
    values["recommended"] = rows.evaluate("recommended", recommended)
    differences = {}
    for other in ([best_single] if best_single else []) + ["logged"]:
        for metric in ("churn", "value"):
            differences[f"recommended-{other}:{metric}"] = rows.difference(
                recommended, None if other == "logged" else policies[other], metric
            )
    return OffPolicyTable([rows.logged(), *values.values()], differences)

"""The XGBoost churn model: stratified K-fold CV, early stopping, a search over depth and step.

For each candidate (tree depth, learning rate), the K fold models grow in lockstep, one tree per
round each, and stop when the pooled out-of-fold log loss has not improved for `patience` rounds
(the way `xgboost.cv` stops). The candidate whose out-of-fold ROC AUC is best wins, unless a
cheaper one is within noise of it: plain prediction costs trees x depth, and explanations grow
faster (XGBoost's TreeSHAP costs trees x leaves x depth^2; the tables `score` explains from grow
with the leaves), so among equally good candidates the most compact is kept. A larger learning
rate often reaches the same accuracy with a fraction of the trees. A final model is then trained
on every row with the chosen settings and number of rounds.

The models are grown one after the other, each on `threads` threads: XGBoost's `hist` method
gives the same trees at any thread count (its row sample is drawn row by row from a seeded
stream, whatever thread draws it, and its histogram sums come out the same: measured at 1, 2 and
3 threads on 7,043 and 200,000 rows, and a test trains at 1 and 2). Fold models grown side by
side in Python threads would not be: they share XGBoost's random generator, so their row
samples change from run to run.

The rounds, depth and learning rate are chosen on the same folds that are reported, which favours
them a little; the README gives the size of that effect, measured with nested cross-validation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xgboost as xgb

from aura_sentinel.metrics import all_metrics, log_loss, roc_auc

FloatMatrix = npt.NDArray[np.float32]
Outcome = npt.NDArray[np.float32]
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BoostingSettings:
    """XGBoost settings shared by every candidate; the tree depth and learning rate are searched."""

    learning_rates: tuple[float, ...] = (0.05, 0.1, 0.2)
    """Candidate shrinkages per tree: the smallest is the most careful, the larger ones need
    fewer trees; each is small enough for early stopping to find a good number of rounds."""
    depths: tuple[int, ...] = (1, 2, 3, 4, 6)
    """Candidate tree depths: 1 is an additive model, 6 allows rich interactions."""
    subsample: float = 0.8
    """Share of rows each tree sees (stochastic boosting regularises)."""
    colsample_bytree: float = 0.8
    """Share of features each tree sees."""
    min_child_weight: float = 1.0
    """Smallest hessian sum in a leaf: XGBoost's default."""
    reg_lambda: float = 1.0
    """L2 penalty on leaf weights: XGBoost's default."""
    max_rounds: int = 3000
    """Upper bound on trees; early stopping normally ends far sooner."""
    patience: int = 50
    """Rounds without improvement of the out-of-fold log loss before a candidate stops."""


@dataclass(frozen=True)
class Candidate:
    """One (tree depth, learning rate) pair's cross-validated result."""

    depth: int
    learning_rate: float
    rounds: int
    roc_auc: float
    log_loss: float
    fold_roc_auc: tuple[float, ...]

    @property
    def explanation_cost(self) -> int:
        """Relative cost of exact per-row contributions by TreeSHAP: trees x leaves x depth^2."""
        return self.rounds * (1 << self.depth) * self.depth * self.depth


@dataclass
class ChurnTraining:
    """The final model and the evidence for it."""

    booster: xgb.Booster
    chosen: Candidate
    candidates: list[Candidate]
    metrics: dict[str, float]
    out_of_fold: npt.NDArray[np.float64]
    folds: int


def stratified_folds(outcome: Outcome, folds: int, seed: int) -> npt.NDArray[np.int64]:
    """A fold number per row; each fold holds the same share of churners, shuffled by `seed`."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(outcome.size, dtype=np.int64)
    offset = 0
    for label in (0.0, 1.0):
        rows = np.flatnonzero(outcome == label)
        rng.shuffle(rows)
        assignment[rows] = (np.arange(rows.size) + offset) % folds
        offset += rows.size  # continue the cycle so fold sizes stay balanced overall
    return assignment


def train_churn_model(
    matrix: FloatMatrix,
    outcome: Outcome,
    feature_types: list[str],
    folds: int = 5,
    seed: int = 42,
    settings: BoostingSettings | None = None,
    progress: Progress | None = None,
    threads: int = 1,
) -> ChurnTraining:
    """Cross-validate every candidate, choose one, and fit the final model on all rows, with
    XGBoost on `threads` threads (the result is the same for any number)."""
    settings = settings or BoostingSettings()
    report = progress or (lambda fraction, message: None)
    assignment = stratified_folds(outcome, folds, seed)
    pairs = [(depth, rate) for depth in settings.depths for rate in settings.learning_rates]
    results: list[tuple[Candidate, npt.NDArray[np.float64]]] = []
    for index, (depth, rate) in enumerate(pairs):
        stage = f"churn model, candidate {index + 1} of {len(pairs)}"

        def candidate_progress(message: str, index: int = index, stage: str = stage) -> None:
            report(index / (len(pairs) + 1), f"{stage}: {message}")

        candidate_progress(f"depth {depth}, learning rate {rate}")
        results.append(
            _cross_validate(
                matrix,
                outcome,
                feature_types,
                assignment,
                settings,
                (depth, rate, seed),
                candidate_progress,
                threads,
            )
        )
    candidates = [candidate for candidate, _ in results]
    chosen = choose_candidate(candidates)
    out_of_fold = results[candidates.index(chosen)][1]
    report(len(pairs) / (len(pairs) + 1), "churn model, final model on all rows")
    params = _params(settings, chosen.depth, chosen.learning_rate, seed, threads)
    booster = _fit(matrix, outcome, feature_types, params, chosen.rounds, threads)
    report(1.0, "churn model, done")
    return ChurnTraining(
        booster=booster,
        chosen=chosen,
        candidates=candidates,
        metrics=all_metrics(outcome, out_of_fold),
        out_of_fold=out_of_fold,
        folds=folds,
    )


def choose_candidate(candidates: list[Candidate]) -> Candidate:
    """The cheapest candidate to explain among those within noise of the best ROC AUC.

    "Within noise": its mean per-fold AUC shortfall against the best is no larger than the
    standard error of that shortfall across folds.
    """
    best = max(candidates, key=lambda candidate: candidate.roc_auc)
    best_folds = np.asarray(best.fold_roc_auc)

    def within_noise(candidate: Candidate) -> bool:
        shortfall = best_folds - np.asarray(candidate.fold_roc_auc)
        standard_error = shortfall.std(ddof=1) / np.sqrt(shortfall.size)
        return bool(shortfall.mean() <= standard_error)

    eligible = [candidate for candidate in candidates if within_noise(candidate)]
    return min(
        eligible,
        key=lambda candidate: (
            candidate.explanation_cost,
            candidate.depth,
            candidate.learning_rate,
        ),
    )


def predict_probability(
    booster: xgb.Booster, matrix: FloatMatrix, feature_types: list[str]
) -> npt.NDArray[np.float32]:
    """Churn probability for every row, in one XGBoost call."""
    data = xgb.DMatrix(matrix, feature_types=feature_types, enable_categorical=True)
    return np.asarray(booster.predict(data), dtype=np.float32)


def predict_with_threads(booster: xgb.Booster, threads: int) -> None:
    """Make `booster`'s predictions use `threads` threads. Each row is predicted on its own, so
    the results do not depend on the number; the model's bytes do not change."""
    booster.set_param({"nthread": threads})


def only_stumps(booster: xgb.Booster) -> bool:
    """Whether every tree has at most one split (the depth-1 models the search often picks).

    Such a tree depends on one feature only, so its exact Shapley contribution is its leaf value
    minus its cover-weighted mean: the path attribution XGBoost computes with
    `approx_contribs=True`, at a fraction of the cost of TreeSHAP.
    """
    model = json.loads(booster.save_raw(raw_format="json"))
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    return all(int(tree["tree_param"]["num_nodes"]) <= 3 for tree in trees)


def _params(
    settings: BoostingSettings, depth: int, learning_rate: float, seed: int, threads: int
) -> dict[str, object]:
    return {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "eta": learning_rate,
        "max_depth": depth,
        "subsample": settings.subsample,
        "colsample_bytree": settings.colsample_bytree,
        "min_child_weight": settings.min_child_weight,
        "lambda": settings.reg_lambda,
        "seed": seed,
        "nthread": threads,
        "verbosity": 0,
    }


def _churn_rate(outcome: Outcome) -> float:
    return float(np.clip(outcome.mean(), 1e-6, 1 - 1e-6))


def _with_prior(params: dict[str, object], outcome: Outcome) -> dict[str, object]:
    """Start boosting from the churn rate, so the first trees model customers, not the average."""
    return {**params, "base_score": _churn_rate(outcome)}


def _fit(
    matrix: FloatMatrix,
    outcome: Outcome,
    feature_types: list[str],
    params: dict[str, object],
    rounds: int,
    threads: int,
) -> xgb.Booster:
    data = xgb.DMatrix(
        matrix, outcome, feature_types=feature_types, enable_categorical=True, nthread=threads
    )
    return xgb.train(_with_prior(params, outcome), data, num_boost_round=rounds)


def _cross_validate(
    matrix: FloatMatrix,
    outcome: Outcome,
    feature_types: list[str],
    assignment: npt.NDArray[np.int64],
    settings: BoostingSettings,
    depth_rate_seed: tuple[int, float, int],
    progress: Callable[[str], None],
    threads: int,
) -> tuple[Candidate, npt.NDArray[np.float64]]:
    """Grow all fold models in lockstep; stop on the pooled out-of-fold log loss."""
    depth, learning_rate, seed = depth_rate_seed
    params = _params(settings, depth, learning_rate, seed, threads)
    folds = int(assignment.max()) + 1
    fold_rows = [np.flatnonzero(assignment == fold) for fold in range(folds)]
    models: list[tuple[xgb.Booster, xgb.DMatrix, xgb.DMatrix, float]] = []
    margins = np.zeros(outcome.size, dtype=np.float64)
    for rows in fold_rows:
        train_rows = np.flatnonzero(assignment != assignment[rows[0]])
        fold_params = _with_prior(params, outcome[train_rows])
        train = xgb.DMatrix(
            matrix[train_rows],
            outcome[train_rows],
            feature_types=feature_types,
            enable_categorical=True,
            nthread=threads,
        )
        held_out = xgb.DMatrix(
            matrix[rows], feature_types=feature_types, enable_categorical=True, nthread=threads
        )
        rate = _churn_rate(outcome[train_rows])
        prior_margin = float(np.log(rate / (1 - rate)))
        margins[rows] = prior_margin
        models.append((xgb.Booster(fold_params, [train]), train, held_out, prior_margin))

    best_loss = np.inf
    best_rounds = 0
    best_probability = np.zeros(outcome.size, dtype=np.float64)
    for round_index in range(settings.max_rounds):
        for (booster, train, held_out, prior_margin), rows in zip(models, fold_rows, strict=True):
            booster.update(train, round_index)
            # A one-tree prediction includes the prior margin, so take it out before adding.
            new_tree = booster.predict(
                held_out, output_margin=True, iteration_range=(round_index, round_index + 1)
            )
            margins[rows] += new_tree - prior_margin
        probability = 1.0 / (1.0 + np.exp(-margins))
        loss = log_loss(outcome, probability)
        if loss < best_loss - 1e-9:
            best_loss, best_rounds, best_probability = loss, round_index + 1, probability
        elif round_index + 1 - best_rounds >= settings.patience:
            break
        if round_index % 10 == 0:
            progress(
                f"depth {depth}, learning rate {learning_rate}, "
                f"round {round_index + 1}, log loss {loss:.4f}"
            )

    candidate = Candidate(
        depth=depth,
        learning_rate=learning_rate,
        rounds=best_rounds,
        roc_auc=roc_auc(outcome, best_probability),
        log_loss=best_loss,
        fold_roc_auc=tuple(roc_auc(outcome[rows], best_probability[rows]) for rows in fold_rows),
    )
    return candidate, best_probability

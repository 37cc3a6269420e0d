"""Multi-arm uplift learners on XGBoost: each row's churn probability under every action.

Four ways to learn p_a(x), the churn probability within the log's horizon under action a, from a
campaign log (see `LEARNERS`). `cross_fit` gives out-of-fold estimates for every row on the
shared folds (the held-out evidence for choosing a learner and for off-policy evaluation);
`fit_final` fits the chosen learner on every row for scoring new customers.

Every model is a small XGBoost model (`hist`, depth 3, learning rate 0.05) whose number of rounds
is found by early stopping on a seeded 20% of its own training rows, then refitted on all of
them with that number. Nothing is sampled at random inside XGBoost, so the same data and seed
give the same model bytes at any thread count.

When the churn model can read the log, every churn classifier starts from its view of the
customer (`LearningData.start`, see `effects.start`; its logit is XGBoost's base margin): the
trees then only learn how the log's churn differs from it under each action. The churn model has
seen far more customers than an action's arm, so the arms' few churners are spent on the
actions' effects, not on relearning who is at risk (on a synthetic log of 50,000 rows this raised
the value of the resulting plan, under the true effects, from 0.36 to 0.54 of the best possible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import xgboost as xgb

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FloatMatrix = npt.NDArray[np.float32]

LEARNERS = ("T", "S", "X", "DR")
"""The learners, simplest first (ties in the selection go to the earlier one).

T: one churn classifier per action, fitted on that action's rows; p_a(x) = mu_a(x).
   Simple and unbiased per arm, but each arm's noise adds up in the difference p_a - p_0.
S: one churn classifier on all rows with the action as one-hot columns; p_a(x) = its prediction
   with the action set to a. Pools the data, but may shrink effects towards zero.
X: per action a, the T models impute each row's effect (Y - mu_0 on a's rows, mu_a - Y on the
   no-action rows); two regressions of it are blended by the propensities. Good for small arms.
DR: per action a, regresses the doubly robust (AIPW) pseudo-outcome of the effect on x.
   Unbiased under targeted logging if either the T models or the propensities are right.
"""


@dataclass(frozen=True)
class EffectBoosting:
    """XGBoost settings shared by every effect model."""

    learning_rate: float = 0.05
    depth: int = 3
    max_rounds: int = 1000
    patience: int = 30
    """Rounds without improvement on the inner held-out rows before boosting stops."""
    inner_share: float = 0.2
    """Share of a model's training rows held out (seeded) to choose its number of rounds."""
    classifier_min_child_weight: float = 5.0
    """Hessian p(1-p) per row: a leaf holds at least about 25 rows, so small arms stay smooth."""
    regressor_min_child_weight: float = 25.0
    """Hessian 1 per row: a leaf averages at least 25 noisy imputed effects."""
    reg_lambda: float = 5.0


BOOSTING = EffectBoosting()


@dataclass(frozen=True)
class LearningData:
    """A campaign log as the learners need it."""

    matrix: FloatMatrix
    feature_types: list[str]
    actions: IntArray
    churned: FloatArray
    action_count: int
    start: FloatArray | None = None
    """Each row's churn probability within the log's horizon by the churn model, that every
    churn classifier starts from; None: they start from the arm's mean churn."""


@dataclass
class FittedLearner:
    """A learner fitted on every row of the log, ready to score new customers.

    Boosters: T = one classifier per tried action (action 0 first); S = one classifier whose
    last `action_count` columns are the one-hot action; X and DR = the no-action classifier,
    then one regressor of the effect tau_a(x) per tried action a > 0.
    """

    learner: str
    boosters: tuple[xgb.Booster, ...]
    action_count: int
    tried: tuple[bool, ...]

    def churn_under_actions(
        self,
        matrix: FloatMatrix,
        feature_types: list[str],
        threads: int = 1,
        start: FloatArray | None = None,
    ) -> FloatArray:
        """N x A churn probability of every row under every action (untried = no action).
        `start` as the learner was fitted with (`LearningData.start`), for these rows."""
        for booster in self.boosters:
            booster.set_param({"nthread": threads})
        tried_actions = _tried_actions(self.tried)
        churn = np.empty((matrix.shape[0], self.action_count))
        margin = _margin(start)
        if self.learner == "T":
            for action, booster in zip(tried_actions, self.boosters, strict=True):
                churn[:, action] = _predict(booster, matrix, feature_types, margin)
        elif self.learner == "S":
            churn[:, tried_actions] = _predict_s(
                self.boosters[0], matrix, feature_types, tried_actions, self.action_count, margin
            )
        else:
            effects = np.zeros_like(churn)
            for action, booster in zip(tried_actions[1:], self.boosters[1:], strict=True):
                effects[:, action] = _predict(booster, matrix, feature_types)
            no_action = _predict(self.boosters[0], matrix, feature_types, margin)
            return _from_effects(no_action, effects)
        return _mirror_untried(churn, self.tried)

    def to_bytes(self) -> list[bytes]:
        """Each booster in XGBoost's own binary JSON (UBJSON) format, in storage order."""
        return [bytes(booster.save_raw(raw_format="ubj")) for booster in self.boosters]

    @classmethod
    def from_bytes(
        cls, learner: str, blobs: list[bytes], action_count: int, tried: tuple[bool, ...]
    ) -> FittedLearner:
        """The learner stored by `to_bytes`; ValueError when the number of models is wrong."""
        _check_learner(learner)
        expected = booster_count(learner, tried)
        if len(blobs) != expected or len(tried) != action_count:
            raise ValueError(
                f"learner {learner} with {sum(tried)} tried actions of {action_count} needs "
                f"{expected} models, got {len(blobs)}"
            )
        boosters = []
        for blob in blobs:
            booster = xgb.Booster()
            booster.load_model(bytearray(blob))
            boosters.append(booster)
        return cls(learner, tuple(boosters), action_count, tried)


def cross_fit(
    learner: str,
    data: LearningData,
    folds: IntArray,
    propensities_all: FloatArray,
    logged_propensity: FloatArray,
    tried: tuple[bool, ...],
    seed: int,
    threads: int,
    t_out_of_fold: FloatArray | None = None,
) -> FloatArray:
    """N x A out-of-fold churn probability under each action: fold k is predicted by models
    fitted on the other folds only. X and DR build on the out-of-fold T predictions: pass
    `t_out_of_fold` (the result of `cross_fit("T", ...)`) to avoid refitting them."""
    _check_learner(learner)
    if learner == "S":
        return _s_out_of_fold(data, folds, tried, seed, threads)
    churn_t = (
        t_out_of_fold
        if t_out_of_fold is not None
        else _t_out_of_fold(data, folds, tried, seed, threads)
    )
    if learner == "T":
        return np.array(churn_t, dtype=np.float64)
    if learner == "X":
        effects = _x_effects(data, folds, propensities_all, churn_t, tried, seed, threads)
    else:
        effects = _dr_effects(data, folds, logged_propensity, churn_t, tried, seed, threads)
    return _from_effects(churn_t[:, 0], effects)


def fit_final(
    learner: str,
    data: LearningData,
    logged_propensity: FloatArray,
    tried: tuple[bool, ...],
    seed: int,
    threads: int,
    t_out_of_fold: FloatArray,
    out_of_fold: FloatArray,
) -> FittedLearner:
    """`learner` fitted on every row. `t_out_of_fold` and `out_of_fold` are `cross_fit`'s results
    for the T-learner and for `learner`. DR regresses its pseudo-outcome built from the T
    predictions; X distils its own cross-fitted (propensity-blended) effect into one regressor
    per action, so scoring needs no propensity model and X's second stage is not grown again."""
    _check_learner(learner)
    tried_actions = _tried_actions(tried)
    if learner == "T":
        boosters = [
            _classifier(data, data.actions == action, seed, threads) for action in tried_actions
        ]
        return FittedLearner(learner, tuple(boosters), data.action_count, tried)
    if learner == "S":
        booster = _s_classifier(data, _tried_rows(data.actions, tried), seed, threads)
        return FittedLearner(learner, (booster,), data.action_count, tried)
    if learner == "X":
        targets = out_of_fold - t_out_of_fold[:, :1]
    else:
        targets = _dr_pseudo_outcomes(data, logged_propensity, t_out_of_fold, tried)
    all_rows = np.ones(data.actions.size, dtype=bool)
    boosters = [_classifier(data, data.actions == 0, seed, threads)]
    for action in tried_actions[1:]:
        boosters.append(_regressor(data, all_rows, targets[:, action], seed, threads))
    return FittedLearner(learner, tuple(boosters), data.action_count, tried)


def _t_out_of_fold(
    data: LearningData, folds: IntArray, tried: tuple[bool, ...], seed: int, threads: int
) -> FloatArray:
    churn = np.empty((data.actions.size, data.action_count))
    for fold in np.unique(folds):
        held = folds == fold
        for action in _tried_actions(tried):
            booster = _classifier(data, ~held & (data.actions == action), seed, threads)
            churn[held, action] = _predict(
                booster, data.matrix[held], data.feature_types, _rows_margin(data, held)
            )
    return _mirror_untried(churn, tried)


def _s_out_of_fold(
    data: LearningData, folds: IntArray, tried: tuple[bool, ...], seed: int, threads: int
) -> FloatArray:
    churn = np.empty((data.actions.size, data.action_count))
    tried_rows = _tried_rows(data.actions, tried)
    for fold in np.unique(folds):
        held = folds == fold
        booster = _s_classifier(data, ~held & tried_rows, seed, threads)
        actions = _tried_actions(tried)
        churn[np.ix_(held, actions)] = _predict_s(
            booster,
            data.matrix[held],
            data.feature_types,
            actions,
            data.action_count,
            _rows_margin(data, held),
        )
    return _mirror_untried(churn, tried)


def _x_effects(
    data: LearningData,
    folds: IntArray,
    propensities_all: FloatArray,
    churn_t: FloatArray,
    tried: tuple[bool, ...],
    seed: int,
    threads: int,
) -> FloatArray:
    """N x A out-of-fold X-learner effects tau_a(x) (zero for action 0 and untried actions)."""
    effects = np.zeros((data.actions.size, data.action_count))
    control = data.actions == 0
    for action in _tried_actions(tried)[1:]:
        treated = data.actions == action
        # Imputed effects: on a's rows the observed outcome against the no-action model, on
        # the no-action rows the action's model against the observed outcome.
        imputed = np.where(treated, data.churned - churn_t[:, 0], churn_t[:, action] - data.churned)
        share = propensities_all[:, action] / np.maximum(
            propensities_all[:, 0] + propensities_all[:, action], 1e-12
        )
        for fold in np.unique(folds):
            held = folds == fold
            on_treated = _regressor(data, ~held & treated, imputed, seed, threads)
            on_control = _regressor(data, ~held & control, imputed, seed, threads)
            rows = data.matrix[held]
            effects[held, action] = share[held] * _predict(on_control, rows, data.feature_types) + (
                1 - share[held]
            ) * _predict(on_treated, rows, data.feature_types)
    return effects


def _dr_pseudo_outcomes(
    data: LearningData,
    logged_propensity: FloatArray,
    churn_t: FloatArray,
    tried: tuple[bool, ...],
) -> FloatArray:
    """N x A AIPW pseudo-outcomes of each effect p_a - p_0 (zero for action 0 and untried)."""
    pseudo = np.zeros((data.actions.size, data.action_count))
    weight = 1.0 / logged_propensity  # e_a on a's rows, e_0 on the no-action rows
    control = data.actions == 0
    for action in _tried_actions(tried)[1:]:
        treated = data.actions == action
        pseudo[:, action] = (
            churn_t[:, action]
            - churn_t[:, 0]
            + treated * weight * (data.churned - churn_t[:, action])
            - control * weight * (data.churned - churn_t[:, 0])
        )
    return pseudo


def _dr_effects(
    data: LearningData,
    folds: IntArray,
    logged_propensity: FloatArray,
    churn_t: FloatArray,
    tried: tuple[bool, ...],
    seed: int,
    threads: int,
) -> FloatArray:
    pseudo = _dr_pseudo_outcomes(data, logged_propensity, churn_t, tried)
    effects = np.zeros_like(pseudo)
    for action in _tried_actions(tried)[1:]:
        for fold in np.unique(folds):
            held = folds == fold
            booster = _regressor(data, ~held, pseudo[:, action], seed, threads)
            effects[held, action] = _predict(booster, data.matrix[held], data.feature_types)
    return effects


def _from_effects(no_action: FloatArray, effects: FloatArray) -> FloatArray:
    """p_a = clip(p_0 + tau_a, 0, 1); a zero effect column gives the no-action column."""
    return np.asarray(np.clip(no_action[:, None] + effects, 0.0, 1.0), dtype=np.float64)


def _mirror_untried(churn: FloatArray, tried: tuple[bool, ...]) -> FloatArray:
    untried = ~np.asarray(tried)
    churn[:, untried] = churn[:, [0]]
    return churn


def _tried_actions(tried: tuple[bool, ...]) -> list[int]:
    if not tried[0]:
        raise ValueError("the no-action arm (action 0) must be tried")
    return [action for action, is_tried in enumerate(tried) if is_tried]


def _tried_rows(actions: IntArray, tried: tuple[bool, ...]) -> npt.NDArray[np.bool_]:
    return np.asarray(tried)[actions]


def booster_count(learner: str, tried: tuple[bool, ...]) -> int:
    """How many models `learner` stores: 1 for S, one per tried action for the others."""
    return 1 if learner == "S" else sum(tried)


def _check_learner(learner: str) -> None:
    if learner not in LEARNERS:
        raise ValueError(f"unknown learner {learner!r}; expected one of {', '.join(LEARNERS)}")


def _with_action(
    matrix: FloatMatrix, feature_types: list[str], actions: IntArray, action_count: int
) -> tuple[FloatMatrix, list[str]]:
    """The matrix with the one-hot action appended as `action_count` numeric columns."""
    one_hot = np.zeros((matrix.shape[0], action_count), dtype=np.float32)
    one_hot[np.arange(matrix.shape[0]), actions] = 1.0
    return np.hstack([matrix, one_hot]), [*feature_types, *("q" * action_count)]


def _s_classifier(
    data: LearningData, rows: npt.NDArray[np.bool_], seed: int, threads: int
) -> xgb.Booster:
    matrix, types = _with_action(
        data.matrix[rows], data.feature_types, data.actions[rows], data.action_count
    )
    return _boost(
        matrix,
        types,
        data.churned[rows],
        "binary:logistic",
        seed,
        threads,
        _rows_margin(data, rows),
    )


def _predict_s(
    booster: xgb.Booster,
    matrix: FloatMatrix,
    feature_types: list[str],
    actions: list[int],
    action_count: int,
    margin: FloatArray | None,
) -> FloatArray:
    """N x len(actions): the S-learner's churn with the action set to each of `actions` in turn
    (one matrix with the one-hot columns, rewritten per action)."""
    features = matrix.shape[1]
    extended = np.zeros((matrix.shape[0], features + action_count), dtype=np.float32)
    extended[:, :features] = matrix
    types = [*feature_types, *("q" * action_count)]
    churn = np.empty((matrix.shape[0], len(actions)))
    for index, action in enumerate(actions):
        extended[:, features:] = 0.0
        extended[:, features + action] = 1.0
        churn[:, index] = _predict(booster, extended, types, margin)
    return churn


def _classifier(
    data: LearningData, rows: npt.NDArray[np.bool_], seed: int, threads: int
) -> xgb.Booster:
    return _boost(
        data.matrix[rows],
        data.feature_types,
        data.churned[rows],
        "binary:logistic",
        seed,
        threads,
        _rows_margin(data, rows),
    )


def _margin(start: FloatArray | None) -> FloatArray | None:
    """The logit of a starting probability, XGBoost's base margin for a logistic model."""
    if start is None:
        return None
    probability = np.clip(start, 1e-6, 1.0 - 1e-6)
    margin: FloatArray = np.log(probability / (1.0 - probability))
    return margin


def _rows_margin(data: LearningData, rows: npt.NDArray[np.bool_]) -> FloatArray | None:
    return None if data.start is None else _margin(data.start[rows])


def _regressor(
    data: LearningData,
    rows: npt.NDArray[np.bool_],
    target: FloatArray,
    seed: int,
    threads: int,
) -> xgb.Booster:
    return _boost(
        data.matrix[rows], data.feature_types, target[rows], "reg:squarederror", seed, threads
    )


def _boost(
    matrix: FloatMatrix,
    feature_types: list[str],
    target: FloatArray,
    objective: str,
    seed: int,
    threads: int,
    margin: FloatArray | None = None,
    settings: EffectBoosting = BOOSTING,
) -> xgb.Booster:
    """Rounds by early stopping on a seeded inner share of the rows, then a refit on all rows.
    With a `margin` (per row) the model starts from it instead of the rows' mean."""
    order = np.random.default_rng(seed).permutation(target.size)
    inner = order[: max(1, int(target.size * settings.inner_share))]
    kept = np.sort(order[inner.size :])
    inner = np.sort(inner)
    logistic = objective == "binary:logistic"
    params: dict[str, object] = {
        "objective": objective,
        "tree_method": "hist",
        "eta": settings.learning_rate,
        "max_depth": settings.depth,
        "min_child_weight": (
            settings.classifier_min_child_weight
            if logistic
            else settings.regressor_min_child_weight
        ),
        "lambda": settings.reg_lambda,
        "seed": seed,
        "nthread": threads,
        "verbosity": 0,
    }

    def start(rows: IntArray | slice) -> dict[str, object]:
        if margin is not None:
            return params  # XGBoost ignores base_score when a base margin is given
        mean = float(np.mean(target[rows]))
        return {**params, "base_score": float(np.clip(mean, 1e-6, 1 - 1e-6)) if logistic else mean}

    def rows_of(rows: IntArray | slice) -> xgb.DMatrix:
        return _dmatrix(
            matrix[rows],
            target[rows],
            feature_types,
            threads,
            None if margin is None else margin[rows],
        )

    rounds = 1  # a single row cannot be split to choose the rounds
    if kept.size > 0:
        probe = xgb.train(
            start(kept),
            rows_of(kept),
            num_boost_round=settings.max_rounds,
            evals=[(rows_of(inner), "inner")],
            early_stopping_rounds=settings.patience,
            verbose_eval=False,
        )
        rounds = probe.best_iteration + 1
    return xgb.train(start(slice(None)), rows_of(slice(None)), num_boost_round=rounds)


def _dmatrix(
    matrix: FloatMatrix,
    target: FloatArray,
    feature_types: list[str],
    threads: int,
    margin: FloatArray | None,
) -> xgb.DMatrix:
    return xgb.DMatrix(
        matrix,
        label=target,
        base_margin=margin,
        feature_types=feature_types,
        enable_categorical=True,
        nthread=threads,
    )


def _predict(
    booster: xgb.Booster,
    matrix: FloatMatrix,
    feature_types: list[str],
    margin: FloatArray | None = None,
) -> FloatArray:
    """The booster's predictions, straight from the matrix (no DMatrix copy); the booster knows
    its features' types from training, `feature_types` only checks they agree."""
    if booster.feature_types is not None and list(booster.feature_types) != feature_types:
        raise ValueError("the matrix's feature types are not the model's")
    predicted = booster.inplace_predict(matrix, base_margin=margin)
    return np.asarray(predicted, dtype=np.float64)

"""Anchors: aura-sentinel's uplift ranking against scikit-uplift, CausalML and EconML on the
Hillstrom e-mail experiment (`nox -s anchors`; those libraries are installed in that session
only, never as the project's dependencies). Prints one table.

The split, the log and the learning are those of tests/test_hillstrom.py: a seeded 70/30 split
stratified on arm x visit; aura-sentinel learns from `train --campaigns` on the 70%. Every other
learner sees the same 70% (women's e-mail and no e-mail rows), the same features (the text
columns one-hot coded) and the same XGBoost settings, and every ranking is scored on the same 30%
by the normalised Qini of the women's e-mail on visits (scikit-uplift's `qini_auc_score`, which
the project's own function equals).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from test_hillstrom import ARMS, HILLSTROM, POLICY_CONFIG, _split  # noqa: E402

OUTCOMES = ("segment", "visit", "conversion", "spend")
BOOSTING = {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.05, "n_jobs": 2}


def _features(frame: pl.DataFrame) -> np.ndarray[Any, Any]:
    customers = frame.drop(OUTCOMES)
    text = [name for name, kind in customers.schema.items() if kind == pl.String]
    return customers.to_dummies(text).cast(pl.Float64).to_numpy()


def _classifier(seed: int = 0) -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(**BOOSTING, random_state=seed)


def _regressor(seed: int = 0) -> Any:
    from xgboost import XGBRegressor

    return XGBRegressor(**BOOSTING, random_state=seed)


def _ours(training: pl.DataFrame, held_out: pl.DataFrame) -> np.ndarray[Any, Any]:
    """Women's e-mail visit uplift from the effect models `train --campaigns` learns."""
    from aura_sentinel.bundle import effect_learner, load_bundle
    from aura_sentinel.churn import predict_probability
    from aura_sentinel.effects.models import EffectModel
    from aura_sentinel.retention.config import load_policy_file
    from aura_sentinel.retention.state import build_state
    from aura_sentinel.training import TrainOptions, train

    folder = Path(tempfile.mkdtemp())
    log = training.select(
        pl.exclude(OUTCOMES),
        pl.col("segment").alias("action"),
        pl.lit(1 / 3).alias("propensity"),
        pl.when(pl.col("visit") == 0).then(pl.lit("Yes")).otherwise(pl.lit("No")).alias("Churn"),
    )
    log.write_csv(folder / "log.csv")
    (folder / "policy.toml").write_text(POLICY_CONFIG)
    settings = load_policy_file(folder / "policy.toml").settings
    options = TrainOptions(policy=False, policy_settings=settings,
                           policy_config=folder / "policy.toml", campaigns=folder / "log.csv",
                           threads=2)  # fmt: skip
    train(folder / "log.csv", folder / "models", options)
    bundle = load_bundle(folder / "models")
    learner, effects = effect_learner(bundle), bundle.manifest.effects
    assert learner is not None and effects is not None
    customers = held_out.drop(OUTCOMES)
    spec = bundle.manifest.features
    probability = predict_probability(bundle.booster, spec.matrix(customers, "held out"),
                                      spec.xgboost_types)  # fmt: skip
    state = build_state(customers, probability, settings.simulator.response_prior,
                        bundle.manifest.state_sources)  # fmt: skip
    churn_under = EffectModel(effects, learner).churn_under(customers, state, "held out")
    return np.asarray(churn_under[:, 0] - churn_under[:, 2])


@dataclass(frozen=True)
class Arms:
    """The women's e-mail and no e-mail rows: the 70% to learn from, the 30% to rank."""

    features: Any
    treated: Any
    visit: Any
    held_out: Any


def _sklift(model: Any, arms: Arms) -> np.ndarray[Any, Any]:
    model.fit(arms.features, arms.visit, arms.treated)
    return np.asarray(model.predict(arms.held_out))


def _causalml(model: Any, arms: Arms) -> np.ndarray[Any, Any]:
    half = np.full(len(arms.features), 0.5)  # the randomised propensity; control_name is 0
    model.fit(arms.features, arms.treated, arms.visit, p=half)
    return np.asarray(model.predict(arms.held_out, p=np.full(len(arms.held_out), 0.5))).ravel()


def _econml(model: Any, arms: Arms) -> np.ndarray[Any, Any]:
    model.fit(arms.visit, arms.treated, X=arms.features)
    return np.asarray(model.effect(arms.held_out)).ravel()


def main() -> None:
    from causalml.inference.meta import BaseTClassifier, BaseXClassifier
    from econml.dml import CausalForestDML
    from econml.dr import DRLearner
    from sklift.metrics import qini_auc_score as sklift_qini
    from sklift.models import ClassTransformation, SoloModel, TwoModels

    from aura_sentinel.effects.qini import qini_auc_score

    frame = pl.read_csv(HILLSTROM, infer_schema_length=None)
    training, held_out = _split(frame)
    pair = [ARMS[0], ARMS[2]]
    learn = training.filter(pl.col("segment").is_in(pair))
    judge_rows = held_out["segment"].is_in(pair).to_numpy()
    judged = held_out.filter(pl.Series(judge_rows))
    arms = Arms(
        features=_features(learn),
        treated=(learn["segment"] == ARMS[2]).to_numpy().astype(int),
        visit=learn["visit"].to_numpy(),
        held_out=_features(judged),
    )
    outcome = judged["visit"].to_numpy()
    judged_treated = (judged["segment"] == ARMS[2]).to_numpy().astype(int)
    rankings: dict[str, Callable[[], np.ndarray[Any, Any]]] = {
        "aura-sentinel (train --campaigns, learner chosen by cross-fitted DR criterion)": lambda: (
            _ours(training, held_out)[judge_rows]
        ),
        "scikit-uplift TwoModels (T-learner)": lambda: _sklift(
            TwoModels(estimator_trmnt=_classifier(), estimator_ctrl=_classifier(1)), arms
        ),
        "scikit-uplift SoloModel (S-learner)": lambda: _sklift(SoloModel(_classifier()), arms),
        "scikit-uplift ClassTransformation": lambda: _sklift(
            ClassTransformation(_classifier()), arms
        ),
        "CausalML BaseTClassifier": lambda: _causalml(BaseTClassifier(_classifier()), arms),
        "CausalML BaseXClassifier": lambda: _causalml(
            BaseXClassifier(outcome_learner=_classifier(), effect_learner=_regressor()), arms
        ),
        "EconML DRLearner": lambda: _econml(
            DRLearner(model_propensity=_classifier(), model_regression=_regressor(),
                      model_final=_regressor(), random_state=0), arms
        ),
        "EconML CausalForestDML": lambda: _econml(
            CausalForestDML(model_y=_regressor(), model_t=_classifier(), discrete_treatment=True,
                            random_state=0), arms
        ),
    }  # fmt: skip
    table = Table(title="Women's e-mail on visits, Hillstrom 30% held out: normalised Qini")
    for header in ("learner", "Qini", "scikit-uplift's own Qini", "seconds"):
        table.add_column(header)
    rng = np.random.default_rng(0)
    random = [qini_auc_score(outcome, rng.random(len(outcome)), judged_treated) for _ in range(200)]
    for name, ranking in rankings.items():
        started = time.perf_counter()
        uplift = ranking()
        seconds = time.perf_counter() - started
        ours = qini_auc_score(outcome, uplift, judged_treated)
        theirs = sklift_qini(outcome, uplift, judged_treated, negative_effect=True)
        table.add_row(name, f"{ours:.4f}", f"{theirs:.4f}", f"{seconds:.1f}")
    table.add_row(
        "random scores (200 draws)", f"{np.mean(random):.4f} +- {np.std(random):.4f}", "", ""
    )
    Console(width=120).print(table)


if __name__ == "__main__":
    main()

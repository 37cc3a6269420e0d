"""Anchors: aura-sentinel against scikit-uplift, CausalML, EconML and Open Bandit Pipeline on the
Hillstrom e-mail experiment (`nox -s anchors`; those libraries are installed in that session
only, never as the project's dependencies). Prints two tables.

The split, the log and the learning are those of tests/test_hillstrom.py: a seeded 70/30 split
stratified on arm x visit; aura-sentinel learns from `train --campaigns` on the 70%.

- Ranking: every other learner sees the same 70% (women's e-mail and no e-mail rows), the same
  features (the text columns one-hot coded) and the same XGBoost settings, and every ranking is
  scored on the same 30% by the normalised Qini of the women's e-mail on visits (scikit-uplift's
  `qini_auc_score`, which the project's own function equals).
- Off-policy estimates: each e-mail for everyone, no e-mail, and the project's plan, evaluated on
  the 30% by the project's IPS, SNIPS and DR estimators and by Open Bandit Pipeline's, on the same
  inputs (the logged arm, propensity 1/3, the no-visit outcome and the project's outcome model),
  beside each single arm's randomised no-visit rate on the 30%.
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

from test_hillstrom import (  # noqa: E402
    ARMS,
    HILLSTROM,
    POLICY_CONFIG,
    _held_out_estimates,
    _split,
)

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


@dataclass(frozen=True)
class Learned:
    """What `train --campaigns` on the 70% says about the 30%."""

    churn_under: np.ndarray[Any, Any]
    """N x 3: each held-out customer's chance of no visit under each arm."""
    rows: Any
    """The held-out rows as the project's off-policy estimators read them (`LoggedRows`)."""
    recommended: np.ndarray[Any, Any]
    """The project's one-step plan for each held-out customer."""
    seconds: float
    """How long `train --campaigns` took."""


def _learned(training: pl.DataFrame, held_out: pl.DataFrame) -> Learned:
    """The effect models `train --campaigns` learns on the 70%, applied to the 30%."""
    from aura_sentinel.effects.offpolicy import LoggedRows
    from aura_sentinel.effects.planning import (
        action_costs,
        action_values,
        best_actions,
        kept_value,
    )
    from aura_sentinel.retention.config import load_policy_file, simulator_for
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
    started = time.perf_counter()
    train(folder / "log.csv", folder / "models", options)
    seconds = time.perf_counter() - started
    experiment = {"models": folder / "models", "held_out": held_out, "settings": settings}
    churn_under, state, manifest = _held_out_estimates(experiment)
    effects = manifest.effects
    worth = kept_value(simulator_for(settings), state, effects.horizon_months)
    costs = action_costs(settings.catalog, state)
    actions = np.array([ARMS.index(name) for name in held_out["segment"]])
    churned = (held_out["visit"] == 0).to_numpy().astype(np.float64)
    rows = LoggedRows(actions, churned, np.full(actions.size, 1 / 3), churn_under, worth, costs)
    recommended = best_actions(action_values(churn_under, worth, costs), effects.tried)
    return Learned(churn_under, rows, recommended, seconds)


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


def _ranking_table(training: pl.DataFrame, held_out: pl.DataFrame, learned: Learned) -> Table:
    """The women's e-mail ranking of every learner, by normalised Qini on the 30%."""
    from causalml.inference.meta import BaseTClassifier, BaseXClassifier
    from econml.dml import CausalForestDML
    from econml.dr import DRLearner
    from sklift.metrics import qini_auc_score as sklift_qini
    from sklift.models import ClassTransformation, SoloModel, TwoModels

    from aura_sentinel.effects.qini import qini_auc_score

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
            learned.churn_under[judge_rows, 0] - learned.churn_under[judge_rows, 2]
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
        shown = f"{learned.seconds:.1f} (train)" if name.startswith("aura") else f"{seconds:.1f}"
        table.add_row(name, f"{ours:.4f}", f"{theirs:.4f}", shown)
    table.add_row(
        "random scores (200 draws)", f"{np.mean(random):.4f} +- {np.std(random):.4f}", "", ""
    )
    return table


def _off_policy_table(learned: Learned) -> Table:
    """Each policy's no-visit rate on the 30%, by the project's estimators and Open Bandit
    Pipeline's on the same inputs (outcomes, actions, propensity 1/3, the same outcome model),
    beside each single arm's randomised outcome."""
    from obp.ope import (
        DoublyRobust,
        InverseProbabilityWeighting,
        SelfNormalizedInverseProbabilityWeighting,
    )

    rows = learned.rows
    count, arm_count = rows.churn_under.shape
    policies = {f"{ARMS[arm]} for everyone": np.full(count, arm) for arm in range(arm_count)}
    policies["aura-sentinel's plan"] = learned.recommended
    obp = {
        "ips": InverseProbabilityWeighting(),
        "snips": SelfNormalizedInverseProbabilityWeighting(),
        "dr": DoublyRobust(),
    }
    table = Table(title="No-visit rate per policy, Hillstrom 30% held out: off-policy estimates")
    for header in ("policy", "estimator", "aura-sentinel [95%]", "Open Bandit Pipeline "
                   "[95% bootstrap]", "randomised arm", "both cover it"):  # fmt: skip
        table.add_column(header)
    for name, policy in policies.items():
        ours = rows.evaluate(name, policy).churn
        inputs: dict[str, Any] = {
            "reward": rows.churned,
            "action": rows.actions,
            "action_dist": np.eye(arm_count)[policy][:, :, None],
            "pscore": rows.propensity,
        }
        single = bool(np.all(policy == policy[0]))
        truth = float(rows.churned[rows.actions == policy[0]].mean()) if single else None
        modelled = {"estimated_rewards_by_reg_model": rows.churn_under[:, :, None]}
        for key, estimator in obp.items():
            given = {**inputs, **modelled} if key == "dr" else inputs
            point = estimator.estimate_policy_value(**given)
            interval = estimator.estimate_interval(
                **given, n_bootstrap_samples=1000, random_state=0
            )
            low, high = interval["95.0% CI (lower)"], interval["95.0% CI (upper)"]
            mine = ours[key]
            covered = "" if truth is None else (
                "yes" if mine.low <= truth <= mine.high and low <= truth <= high else "NO"
            )  # fmt: skip
            table.add_row(
                name if key == "ips" else "",
                key.upper(),
                f"{mine.estimate:.4f} [{mine.low:.4f}, {mine.high:.4f}]",
                f"{point:.4f} [{low:.4f}, {high:.4f}]",
                "" if truth is None else f"{truth:.4f}",
                covered,
            )
    return table


def main() -> None:
    frame = pl.read_csv(HILLSTROM, infer_schema_length=None)
    training, held_out = _split(frame)
    learned = _learned(training, held_out)
    console = Console(width=130)
    console.print(_ranking_table(training, held_out, learned))
    console.print(_off_policy_table(learned))


if __name__ == "__main__":
    main()

"""The issue's targets on a real randomised experiment: Hillstrom's e-mail campaign.

64,000 customers were randomised to no e-mail, a men's or a women's e-mail (1/3 each). "No
visit within two weeks" is the churn outcome and the three arms are a three-action catalog.
Effects are learned by `train --campaigns` on a seeded 70% split (stratified on arm x visit) and
judged on the other 30%.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from aura_sentinel.bundle import effect_learner, load_bundle
from aura_sentinel.churn import predict_probability
from aura_sentinel.effects.models import EffectModel
from aura_sentinel.effects.offpolicy import LoggedRows
from aura_sentinel.effects.planning import action_costs, kept_value
from aura_sentinel.effects.qini import qini_auc_score
from aura_sentinel.retention.config import load_policy_file, simulator_for
from aura_sentinel.retention.state import build_state
from aura_sentinel.training import TrainOptions, train

HILLSTROM = Path(__file__).resolve().parents[2] / "shared" / "data" / "hillstrom.csv"
ARMS = ("No E-Mail", "Mens E-Mail", "Womens E-Mail")
POLICY_CONFIG = """\
[catalog]
names = ["No E-Mail", "Mens E-Mail", "Womens E-Mail"]
cost_shares = [0.0, 0.01, 0.01]
[simulator]
action_effects = [0.0, 0.04, 0.04]
discount_actions = []
campaign_horizon_months = 0.5
"""


def _split(frame: pl.DataFrame, seed: int = 42) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A seeded 70/30 split, stratified on arm x visit."""
    rng = np.random.default_rng(seed)
    cells = (frame["segment"] + ":" + frame["visit"].cast(pl.String)).to_numpy()
    training = np.zeros(frame.height, dtype=bool)
    for cell in np.unique(cells):
        rows = rng.permutation(np.flatnonzero(cells == cell))
        training[rows[: round(0.7 * rows.size)]] = True
    return frame.filter(pl.Series(training)), frame.filter(pl.Series(~training))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    if not HILLSTROM.is_file():
        pytest.skip(f"the Hillstrom table is not present at {HILLSTROM}")
    folder = tmp_path_factory.mktemp("hillstrom")
    frame = pl.read_csv(HILLSTROM, infer_schema_length=None)
    training, held_out = _split(frame)
    log = training.select(
        pl.exclude("segment", "visit", "conversion", "spend"),
        pl.col("segment").alias("action"),
        pl.lit(1 / 3).alias("propensity"),
        pl.when(pl.col("visit") == 0).then(pl.lit("Yes")).otherwise(pl.lit("No")).alias("Churn"),
    )
    log.write_csv(folder / "log.csv")
    (folder / "policy.toml").write_text(POLICY_CONFIG)
    policy_file = load_policy_file(folder / "policy.toml")
    options = TrainOptions(
        policy=False,
        policy_settings=policy_file.settings,
        policy_config=folder / "policy.toml",
        campaigns=folder / "log.csv",
        threads=2,
    )
    summary = train(folder / "log.csv", folder / "models", options)
    return {
        "models": folder / "models",
        "held_out": held_out,
        "summary": summary,
        "settings": policy_file.settings,
    }


def _held_out_estimates(experiment: dict[str, object]) -> tuple[np.ndarray, np.ndarray, object]:
    bundle = load_bundle(experiment["models"])  # type: ignore[arg-type]
    manifest = bundle.manifest
    assert manifest.effects is not None
    learner = effect_learner(bundle)
    assert learner is not None
    held_out: pl.DataFrame = experiment["held_out"]  # type: ignore[assignment]
    customers = held_out.drop("segment", "visit", "conversion", "spend")
    spec = manifest.features
    probability = predict_probability(
        bundle.booster, spec.matrix(customers, "held out"), spec.xgboost_types
    )
    settings = experiment["settings"]
    state = build_state(
        customers,
        probability,
        settings.simulator.response_prior,
        manifest.state_sources,  # type: ignore[attr-defined]
    )
    churn_under = EffectModel(manifest.effects, learner).churn_under(customers, state, "held out")
    return churn_under, state, manifest


def test_the_churn_model_learns_from_the_no_email_rows(experiment: dict[str, object]) -> None:
    summary = experiment["summary"]
    assert any("rows with no action" in note for note in summary.notes)  # type: ignore[attr-defined]
    assert summary.churn.rows == 14_914  # type: ignore[attr-defined]


def test_womens_email_ranking_reaches_the_published_qini(experiment: dict[str, object]) -> None:
    churn_under, _, _ = _held_out_estimates(experiment)
    held_out: pl.DataFrame = experiment["held_out"]  # type: ignore[assignment]
    arm = held_out["segment"].to_numpy()
    rows = np.isin(arm, [ARMS[0], ARMS[2]])
    visit_uplift = churn_under[:, 0] - churn_under[:, 2]
    score = qini_auc_score(
        held_out["visit"].to_numpy()[rows], visit_uplift[rows], (arm[rows] == ARMS[2]).astype(int)
    )
    assert score >= 0.05, score


def test_off_policy_intervals_include_the_held_out_randomised_outcome(
    experiment: dict[str, object],
) -> None:
    churn_under, state, _ = _held_out_estimates(experiment)
    held_out: pl.DataFrame = experiment["held_out"]  # type: ignore[assignment]
    settings = experiment["settings"]
    arm = held_out["segment"].to_numpy()
    actions = np.array([ARMS.index(name) for name in arm])
    churned = (held_out["visit"] == 0).to_numpy().astype(np.float64)
    worth = kept_value(simulator_for(settings), state, 0.5)  # type: ignore[arg-type]
    costs = action_costs(settings.catalog, state)  # type: ignore[attr-defined]
    rows = LoggedRows(actions, churned, np.full(actions.size, 1 / 3), churn_under, worth, costs)
    for action in range(3):
        value = rows.evaluate(ARMS[action], np.full(actions.size, action))
        randomised = float(churned[actions == action].mean())
        for name, estimate in value.churn.items():
            assert estimate.low <= randomised <= estimate.high, (ARMS[action], name, estimate)


def test_the_recommended_plan_is_not_below_the_best_single_email(
    experiment: dict[str, object],
) -> None:
    bundle = load_bundle(experiment["models"])  # type: ignore[arg-type]
    effects = bundle.manifest.effects
    assert effects is not None
    differences = effects.off_policy.differences
    singles = [key for key in differences if key.startswith("recommended-always:")]
    assert [key.split(":")[1] for key in singles if key.endswith(":value")]  # one best e-mail
    for key in singles:
        difference = differences[key]
        if key.endswith(":value"):
            assert difference.high >= 0, (key, difference)
        else:  # churn: lower is better
            assert difference.low <= 0, (key, difference)

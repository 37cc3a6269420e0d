"""`score`: one row per customer in input order, the catalog's actions and costs, drivers that
add up to the model's margin, the same answer whatever the batch size, and safe output."""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.pipeline import ScoreSettings, ScoringModel, assess, decide, score_file
from aura_sentinel.results import neutralise_formulas, restored_name
from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.treeshap import NoTables, TableExplainer

from conftest import REPO, run_cli

MODELS = REPO / "models"
OLD_COLUMNS = [
    "CustomerID", "Tenure", "MonthlyCharges", "ChurnProbability", "RiskLevel", "ActionID",
    "RecommendedAction", "ActionCost",
]  # fmt: skip


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    return generate_customers(1500, seed=11)


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    return ScoringModel.load(MODELS)


def _score(
    tmp_path: Path, frame: pl.DataFrame, name: str = "r.csv", **options: object
) -> pl.DataFrame:
    data = tmp_path / "in.parquet"
    frame.write_parquet(data)
    out = tmp_path / name
    settings = ScoreSettings(
        **{k: v for k, v in options.items() if k in ("high", "medium", "explain")}
    )  # type: ignore[arg-type]
    score_file(
        data, MODELS, out, settings,
        budget=options.get("budget"),  # type: ignore[arg-type]
        batch_rows=int(options.get("batch_rows", 200_000)),  # type: ignore[call-overload]
    )  # fmt: skip
    return pl.read_parquet(out) if name.endswith(".parquet") else pl.read_csv(out)


def test_output_has_the_old_columns_first_then_the_new_ones(
    tmp_path: Path, table: pl.DataFrame
) -> None:
    results = _score(tmp_path, table)
    assert results.columns == [
        *OLD_COLUMNS, "ExpectedValue", "ExpectedGain", "ChurnIfActed", "EffectSource", "Contract",
        "TopDrivers", "Churn",
    ]  # fmt: skip


def test_one_row_per_customer_in_input_order(tmp_path: Path, table: pl.DataFrame) -> None:
    results = _score(tmp_path, table)
    assert results.get_column("CustomerID").to_list() == table.get_column("customerID").to_list()
    assert (
        results.get_column("Tenure").to_list() == table.get_column("tenure").cast(float).to_list()
    )
    assert results.get_column("Contract").to_list() == table.get_column("Contract").to_list()


def test_risk_bands_follow_the_thresholds(tmp_path: Path, table: pl.DataFrame) -> None:
    results = _score(tmp_path, table, "r.parquet", high=0.6, medium=0.3)  # full precision
    probability = results.get_column("ChurnProbability").to_numpy()
    expected = np.where(probability > 0.6, "HIGH", np.where(probability > 0.3, "MEDIUM", "LOW"))
    assert results.get_column("RiskLevel").to_list() == expected.tolist()


def test_actions_and_costs_come_from_the_catalog(tmp_path: Path, table: pl.DataFrame) -> None:
    results = _score(tmp_path, table, "r.parquet")  # full precision: CSV has cents
    catalog = ActionCatalog()
    actions = results.get_column("ActionID").to_numpy()
    assert set(actions) <= set(range(6))
    assert results.get_column("RecommendedAction").to_list() == [catalog.names[a] for a in actions]
    expected_cost = (
        np.asarray(catalog.cost_shares)[actions] * table.get_column("MonthlyCharges").to_numpy()
    )
    np.testing.assert_allclose(results.get_column("ActionCost").to_numpy(), expected_cost)
    assert (results.get_column("ExpectedGain").to_numpy() >= 0).all()


def test_contributions_add_up_to_the_model_margin(model: ScoringModel, table: pl.DataFrame) -> None:
    decisions = decide(assess(table, model, explain=True, source="t"), model)
    assert decisions.contributions is not None
    margin = decisions.contributions.sum(axis=1, dtype=np.float64)
    spec = model.bundle.spec
    import xgboost as xgb

    data = xgb.DMatrix(
        spec.matrix(table, "t"), feature_types=spec.xgboost_types, enable_categorical=True
    )
    np.testing.assert_allclose(
        margin, model.bundle.booster.predict(data, output_margin=True), atol=1e-4
    )


def test_contributions_are_exact_shapley_values(model: ScoringModel, table: pl.DataFrame) -> None:
    """The shipped model is explained from tables: it must equal XGBoost's exact TreeSHAP to
    float precision, feature by feature."""
    import xgboost as xgb

    assert model.explainer is not None
    assert isinstance(model.explainer.result(), TableExplainer)
    decisions = decide(assess(table, model, explain=True, source="t"), model)
    spec = model.bundle.spec
    data = xgb.DMatrix(
        spec.matrix(table, "t"), feature_types=spec.xgboost_types, enable_categorical=True
    )
    exact = model.bundle.booster.predict(data, pred_contribs=True)
    np.testing.assert_allclose(decisions.contributions, exact, atol=1e-6)


def test_a_model_whose_tables_would_not_fit_is_explained_by_xgboost(
    table: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the tables' memory limit scoring falls back to XGBoost's TreeSHAP, gives the same
    contributions, and says why."""
    import xgboost as xgb

    from aura_sentinel import pipeline, treeshap

    tiny = functools.partial(treeshap.build_explainer, memory_limit=1)
    monkeypatch.setattr(pipeline, "build_explainer", tiny)
    fallback = ScoringModel.load(MODELS)
    assert fallback.explainer is not None
    assert isinstance(fallback.explainer.result(), NoTables)
    assert fallback.explanations is not None
    assert "XGBoost's TreeSHAP" in fallback.explanations
    assert "limit" in fallback.explanations
    decisions = decide(assess(table, fallback, explain=True, source="t"), fallback)
    spec = fallback.bundle.spec
    data = xgb.DMatrix(
        spec.matrix(table, "t"), feature_types=spec.xgboost_types, enable_categorical=True
    )
    exact = fallback.bundle.booster.predict(data, pred_contribs=True)
    np.testing.assert_array_equal(decisions.contributions, exact)


def test_without_explanations_no_tables_are_built() -> None:
    model = ScoringModel.load(MODELS, explain=False)
    assert model.explainer is None
    assert model.explanations is None


def test_trees_with_two_levels_are_not_taken_for_stumps(table: pl.DataFrame) -> None:
    import xgboost as xgb

    from aura_sentinel.churn import only_stumps

    features = table.select(pl.col("tenure", "MonthlyCharges").cast(pl.Float32)).to_numpy()
    outcome = (table.get_column("Churn") == "Yes").to_numpy()
    data = xgb.DMatrix(features, label=outcome)
    for depth, expected in ((1, True), (2, False)):
        booster = xgb.train({"max_depth": depth, "nthread": 1}, data, num_boost_round=5)
        assert only_stumps(booster) is expected


def test_top_drivers_name_features_that_push_risk_up(tmp_path: Path, table: pl.DataFrame) -> None:
    results = _score(tmp_path, table)
    first = results.get_column("TopDrivers")[0]
    names = [part.split("=")[0] for part in first.split("; ")]
    assert 1 <= len(names) <= 3
    assert set(names) <= set(ScoringModel.load(MODELS).bundle.spec.names)


def test_top_drivers_are_the_largest_positive_contributions_in_order(
    table: pl.DataFrame, model: ScoringModel
) -> None:
    """Against a row-by-row reference, with ties, blank values, levels training never saw and
    rows with nothing pushing up; from the text, and from the columns' level codes."""
    from aura_sentinel.pipeline import _top_drivers
    from aura_sentinel.schema import as_text

    spec = model.bundle.spec
    names = spec.names
    batch = table.head(400).with_columns(
        pl.col(names[0]).head(50).extend_constant(None, 350),
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.lit("Three year"))
        .otherwise(pl.col("Contract"))
        .alias("Contract"),
    )
    rng = np.random.default_rng(4)
    contributions = rng.normal(size=(batch.height, len(names) + 1)).astype(np.float32)
    contributions[:40] = -np.abs(contributions[:40])  # nothing pushes these customers' risk up
    contributions[40:80, 1] = contributions[40:80, 0] = 5.0  # a tie: the earlier feature first
    contributions[80:120, 2:] = -1.0  # only two candidates
    texts = {name: as_text(batch.get_column(name)).to_list() for name in names}
    expected = []
    for row in range(batch.height):
        pushing = sorted(
            (-float(contributions[row, index]), index)
            for index in range(len(names))
            if contributions[row, index] > 0
        )[:3]
        parts = []
        for _, index in pushing:
            value = texts[names[index]][row]
            parts.append(f"{names[index]}={'(blank)' if value is None else value}")
        expected.append("; ".join(parts))
    assert any("Contract=Three year" in text for text in expected)
    levels = spec.level_codes(batch, spec.matrix(batch, "t"))
    assert {names[0], "Contract"} <= set(levels)
    assert _top_drivers(batch, model, contributions, levels).to_list() == expected
    assert _top_drivers(batch, model, contributions, {}).to_list() == expected


def test_results_do_not_depend_on_batch_size(tmp_path: Path, table: pl.DataFrame) -> None:
    whole = _score(tmp_path, table, name="a.parquet")
    batched = _score(tmp_path, table, name="b.parquet", batch_rows=97)
    assert whole.equals(batched)


@pytest.mark.parametrize("budget_share", [None, 0.05])
def test_results_do_not_depend_on_row_order(
    tmp_path: Path, table: pl.DataFrame, budget_share: float | None
) -> None:
    """Also under a budget: ties between customers go by id, not by place in the file."""
    budget = None
    if budget_share is not None:
        budget = budget_share * _score(tmp_path, table).get_column("ActionCost").sum()
    forward = _score(tmp_path, table, name="a.parquet", budget=budget)
    shuffled = table.sample(fraction=1.0, shuffle=True, seed=3)
    backward = _score(tmp_path, shuffled, name="b.parquet", budget=budget)
    order = pl.DataFrame({"CustomerID": shuffled.get_column("customerID")})
    assert backward.equals(order.join(forward, on="CustomerID", maintain_order="left"))


def test_scoring_twice_gives_identical_bytes(tmp_path: Path, table: pl.DataFrame) -> None:
    _score(tmp_path, table, name="a.csv")
    first = (tmp_path / "a.csv").read_bytes()
    _score(tmp_path, table, name="a.csv")
    assert (tmp_path / "a.csv").read_bytes() == first


def test_budget_is_never_exceeded(tmp_path: Path, table: pl.DataFrame) -> None:
    free = _score(tmp_path, table, name="a.parquet")  # full precision: CSV has cents
    budget = 0.25 * free.get_column("ActionCost").sum()
    planned = _score(tmp_path, table, name="b.parquet", budget=budget, batch_rows=400)
    assert planned.get_column("ActionCost").sum() <= budget
    assert planned.get_column("ExpectedGain").sum() > 0


def test_formula_text_is_neutralised_in_csv(tmp_path: Path, table: pl.DataFrame) -> None:
    hostile = table.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit('=HYPERLINK("http://x")'))
        .otherwise(pl.col("customerID"))
        .alias("customerID")
    )
    results = _score(tmp_path, hostile)
    assert results.get_column("CustomerID")[0] == '\'=HYPERLINK("http://x")'


def test_formula_column_names_are_neutralised_in_csv_and_restored_on_reading() -> None:
    """A copied target column may be named like a formula: its CSV header gets the apostrophe
    that its cells would, and `report` reads the name back as it was."""
    results = pl.DataFrame({"ChurnProbability": [0.5], "=SUM(1+1)": ["Yes"], "@x": ["No"]})
    written = neutralise_formulas(results).write_csv()
    assert written.splitlines()[0] == "ChurnProbability,'=SUM(1+1),'@x"
    header = pl.read_csv(io.StringIO(written)).columns
    assert [restored_name(name) for name in header] == ["ChurnProbability", "=SUM(1+1)", "@x"]


def test_missing_columns_are_named_together(tmp_path: Path, table: pl.DataFrame) -> None:
    with pytest.raises(DataError, match="missing columns the model needs: tenure, Contract"):
        _score(tmp_path, table.drop("tenure", "Contract"))
    assert not (tmp_path / "r.csv").exists()


def test_text_in_a_number_column_names_the_file_row(tmp_path: Path, table: pl.DataFrame) -> None:
    bad = table.cast({"tenure": pl.String}).with_columns(
        pl.when(pl.int_range(pl.len()) == 1234)
        .then(pl.lit("long"))
        .otherwise("tenure")
        .alias("tenure")
    )
    with pytest.raises(DataError, match="text 'long' in a number column \\(row 1235 after"):
        _score(tmp_path, bad, batch_rows=500)


def test_the_input_file_is_never_overwritten(tmp_path: Path, table: pl.DataFrame) -> None:
    data = tmp_path / "in.csv"
    table.write_csv(data)
    before = data.read_bytes()
    with pytest.raises(UsageError, match="is also an input"):
        score_file(data, MODELS, data, ScoreSettings())
    assert data.read_bytes() == before


def test_quiet_prints_nothing_on_success(tmp_path: Path, table: pl.DataFrame) -> None:
    data = tmp_path / "in.csv"
    table.head(100).write_csv(data)
    result = run_cli(
        "score", str(data), "--models", str(MODELS), "--out", str(tmp_path / "o.csv"), "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert (tmp_path / "o.csv").is_file()


def test_score_defaults_use_the_shipped_data_and_models(tmp_path: Path) -> None:
    result = run_cli("score", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "7,043" in result.stdout and "dataset.xls" in result.stdout
    assert pl.read_csv(tmp_path / "retention_strategy_results.csv").height == 7043


def test_a_damaged_bundle_is_refused_with_one_line(tmp_path: Path, table: pl.DataFrame) -> None:
    import shutil

    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    (models / "policy.pt").write_bytes(b"not weights")
    data = tmp_path / "in.csv"
    table.head(50).write_csv(data)
    result = run_cli("score", str(data), "--models", str(models), "--out", str(tmp_path / "o.csv"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "SHA-256" in result.stderr
    assert not (tmp_path / "o.csv").exists()


def test_weights_that_do_not_fit_the_policy_are_refused_with_one_line(
    tmp_path: Path, table: pl.DataFrame
) -> None:
    """The network is loaded in a thread while the first batches are assessed: its failure
    still ends the command with one line, exit 2 and no output."""
    import hashlib
    import io
    import json
    import shutil

    import torch

    from aura_sentinel.retention.dqn import QNetwork

    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    buffer = io.BytesIO()
    torch.save(QNetwork(actions=6, hidden=8).state_dict(), buffer)  # the wrong width
    (models / "policy.pt").write_bytes(buffer.getvalue())
    manifest = json.loads((models / "bundle.json").read_text())
    manifest["artifacts"]["policy.pt"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (models / "bundle.json").write_text(json.dumps(manifest))
    data = tmp_path / "in.csv"
    table.head(50).write_csv(data)
    out = tmp_path / "o.csv"
    result = run_cli("score", str(data), "--models", str(models), "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "policy.pt" in result.stderr
    assert not out.exists()


def test_unseen_levels_are_scored_and_counted(tmp_path: Path, table: pl.DataFrame) -> None:
    changed = table.with_columns(
        pl.when(pl.int_range(pl.len()) < 7)
        .then(pl.lit("Three year"))
        .otherwise(pl.col("Contract"))
        .alias("Contract")
    )
    data = tmp_path / "in.parquet"
    changed.write_parquet(data)
    summary = score_file(data, MODELS, tmp_path / "r.csv", ScoreSettings())
    assert summary.customers == table.height
    assert summary.unseen_levels == {"Contract": 7}


def test_another_schema_scores_with_empty_tenure_and_charges(tmp_path: Path) -> None:
    from test_dqn import SMALL

    from aura_sentinel.retention.config import PolicySettings
    from aura_sentinel.training import TrainOptions, train

    frame = generate_customers(600, seed=4).rename(
        {"tenure": "months", "MonthlyCharges": "bill", "Churn": "left", "customerID": "account"}
    )
    data = tmp_path / "bank.parquet"
    frame.write_parquet(data)
    options = TrainOptions(
        target="left", identifier="account", folds=3, policy_settings=PolicySettings(dqn=SMALL)
    )
    train(data, tmp_path / "m", options)
    out = tmp_path / "r.parquet"
    score_file(data, tmp_path / "m", out, ScoreSettings())
    results = pl.read_parquet(out)
    assert results.get_column("Tenure").null_count() == 600
    assert results.get_column("MonthlyCharges").null_count() == 600
    shares = np.asarray(ActionCatalog().cost_shares)
    actions = results.get_column("ActionID").to_numpy()
    np.testing.assert_allclose(results.get_column("ActionCost").to_numpy(), shares[actions])
    assert results.get_column("CustomerID").to_list() == frame.get_column("account").to_list()
    assert results.columns[-1] == "left"


def test_a_header_without_customers_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "empty.csv"
    data.write_text("customerID,tenure,Churn\n")
    with pytest.raises(DataError, match="no customers"):
        score_file(data, MODELS, tmp_path / "r.csv", ScoreSettings())
    assert not (tmp_path / "r.csv").exists()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.integers(min_value=1, max_value=300),
    seed=st.integers(min_value=0, max_value=10_000),
    charge_scale=st.floats(min_value=0.0, max_value=50.0),
    budget_share=st.floats(min_value=0.0, max_value=1.0),
)
def test_any_generated_table_gets_valid_probabilities_actions_costs_and_budget(
    model: ScoringModel, rows: int, seed: int, charge_scale: float, budget_share: float
) -> None:
    from aura_sentinel.budget import allocate
    from aura_sentinel.pipeline import score_frame

    table = generate_customers(rows, seed=seed).with_columns(
        pl.col("MonthlyCharges") * charge_scale
    )
    results, decisions = score_frame(table, model, ScoreSettings(), "generated")
    probability = results.get_column("ChurnProbability").to_numpy()
    assert ((probability >= 0) & (probability <= 1)).all()
    actions = results.get_column("ActionID").to_numpy()
    assert set(actions) <= set(range(6))
    charge = table.get_column("MonthlyCharges").to_numpy()
    expected = np.asarray(ActionCatalog().cost_shares)[actions] * charge
    np.testing.assert_allclose(results.get_column("ActionCost").to_numpy(), expected)
    assert (results.get_column("ActionCost").to_numpy() >= 0).all()
    budget = budget_share * float(decisions.cost.max(axis=1).sum())
    plan = allocate(decisions.gain, decisions.cost, budget)
    assert decisions.cost[np.arange(rows), plan].sum() <= budget + 1e-9


@settings(max_examples=8, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=400),
    seed=st.integers(min_value=0, max_value=10_000),
    batch_rows=st.integers(min_value=1, max_value=400),
    order_seed=st.integers(min_value=0, max_value=10_000),
)
def test_any_generated_table_scores_the_same_in_any_order_batching_and_run(
    rows: int, seed: int, batch_rows: int, order_seed: int
) -> None:
    import tempfile

    table = generate_customers(rows, seed=seed)
    order = np.random.default_rng(order_seed).permutation(rows)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        table.write_parquet(folder / "in.parquet")
        table[order].write_parquet(folder / "shuffled.parquet")
        outputs = []
        for data, out, size in (
            ("in.parquet", "whole.csv", rows),
            ("in.parquet", "batched.csv", batch_rows),
            ("shuffled.parquet", "shuffled.csv", batch_rows),
        ):
            score_file(folder / data, MODELS, folder / out, ScoreSettings(), batch_rows=size)
            outputs.append((folder / out).read_bytes())
        whole, batched, _ = outputs
        assert batched == whole  # byte for byte, whatever the batches
        shuffled = pl.read_csv(folder / "shuffled.csv")
        restored = shuffled[np.argsort(order)]
        assert restored.equals(pl.read_csv(folder / "whole.csv"))

"""Table-driven TreeSHAP (issue 19): exactly XGBoost's `pred_contribs`, at any row.

The reference is always XGBoost itself: `booster.predict(DMatrix, pred_contribs=True)` on the
same float32 matrix. "Exact" means within 1e-5 (max abs over every feature and the bias) on
ordinary rows and on the rows that break hand-written TreeSHAPs: values exactly at the
model's thresholds and their float32 neighbours, NaN, +-3e38, all-missing rows, and category
codes that are unseen, negative or not integers.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest
import xgboost as xgb
from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from aura_sentinel.threads import torch_threads
from aura_sentinel.treeshap import (
    MAX_PATH_FEATURES,
    ROW_BLOCK,
    NoTables,
    TableExplainer,
    build_explainer,
)

FloatMatrix = npt.NDArray[np.float32]
TOLERANCE = 1e-5
NUMERIC = 5
CATEGORICAL = 3
LEVELS = 8
"""Category codes 0..7 in training: 8 and above are unseen."""
KINDS = {
    "numeric": {},
    "one-hot": {"max_cat_to_onehot": 64},
    "partition": {"max_cat_to_onehot": 1},
}
"""Model kinds: numeric features only; categorical features split one category at a time;
categorical features split by sets of categories."""
DEPTHS = [1, 2, 3, 4, 5, 6]
ALL_MODELS = [(kind, depth) for kind in KINDS for depth in DEPTHS]
CATEGORICAL_MODELS = [(kind, depth) for kind in ("one-hot", "partition") for depth in DEPTHS]
UNSEEN_CODES = [LEVELS, LEVELS + 1, LEVELS + 100, 1e6, 3e38]
NEGATIVE_CODES = [-1.0, -2.0, -100.0, -1e6, -3e38]
FRACTIONAL_CODES = [0.5, 1.5, 2.5, 3.999, -0.5, -0.001]


def _model_id(model: tuple[str, int]) -> str:
    return f"{model[0]}-depth{model[1]}"


# ---------------------------------------------------------------- data, models, reference


def _customer_table(
    rows: int, numeric: int, categorical: int, seed: int, nan_share: float = 0.05
) -> tuple[FloatMatrix, FloatMatrix, list[str]]:
    """(float32 features, labels, XGBoost feature types) with interactions, so deep trees
    are really deep; numbers rounded to one decimal so many rows tie at a threshold."""
    rng = np.random.default_rng(seed)
    numbers = np.round(rng.normal(size=(rows, numeric)), 1)
    codes = rng.integers(0, LEVELS, size=(rows, categorical))
    logit = np.zeros(rows)
    for j in range(numeric):
        logit += np.sin(2 * numbers[:, j])
        if j + 1 < numeric:
            logit += 1.5 * numbers[:, j] * numbers[:, j + 1]
        if j + 2 < numeric:
            logit += 2.0 * (numbers[:, j] > 0) * (numbers[:, j + 2] < 0.3) * np.sign(numbers[:, 0])
    for j in range(categorical):
        effect = rng.normal(scale=1.5, size=LEVELS)
        effect[j] += 4.0  # one strong category: depth-1 models split on categories too
        sign = np.sign(numbers[:, j % numeric]) if numeric else 0.0
        logit += effect[codes[:, j]] * (1.0 + sign)
    labels = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    matrix = np.concatenate([numbers, codes], axis=1).astype(np.float32)
    matrix[rng.random(matrix.shape) < nan_share] = np.nan
    return matrix, labels, ["q"] * numeric + ["c"] * categorical


def _train(
    matrix: FloatMatrix,
    labels: FloatMatrix,
    feature_types: list[str],
    depth: int,
    trees: int,
    seed: int = 0,
    **params: object,
) -> xgb.Booster:
    """A binary XGBoost model grown on one thread, reproducibly."""
    data = xgb.DMatrix(matrix, labels, feature_types=feature_types, enable_categorical=True)
    parameters = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "nthread": 1,
        "max_depth": depth,
        "eta": 0.3,
        "seed": seed,
        **params,
    }
    return xgb.train(parameters, data, num_boost_round=trees)


def _dmatrix(matrix: FloatMatrix, feature_types: list[str]) -> xgb.DMatrix:
    return xgb.DMatrix(matrix, feature_types=feature_types, enable_categorical=True)


def _xgboost_contributions(
    booster: xgb.Booster, matrix: FloatMatrix, feature_types: list[str]
) -> FloatMatrix:
    """The reference: XGBoost's own TreeSHAP."""
    return booster.predict(_dmatrix(matrix, feature_types), pred_contribs=True)


def _explainer(booster: xgb.Booster, feature_types: list[str], **limits: int) -> TableExplainer:
    """The table explainer, failing the test with the reason when there is none."""
    explainer = build_explainer(booster, feature_types, **limits)
    assert isinstance(explainer, TableExplainer), explainer
    return explainer


def _assert_exact(
    explainer: TableExplainer,
    booster: xgb.Booster,
    rows: FloatMatrix,
    feature_types: list[str],
    sums_to_margin: bool = True,
) -> float:
    """Contributions equal XGBoost's within TOLERANCE and (unless told not to check) sum to
    the margin; returns the largest difference. A failure names the row, the column and both
    values."""
    assert len(rows) > 0
    expected = _xgboost_contributions(booster, rows, feature_types)
    contributions = explainer.contributions(rows)
    assert contributions.dtype == np.float32
    assert contributions.shape == expected.shape
    difference = np.abs(contributions.astype(np.float64) - expected)
    row, column = np.unravel_index(int(np.argmax(difference)), difference.shape)
    assert difference[row, column] <= TOLERANCE, (
        f"row {rows[row].tolist()}, column {column}: "
        f"{contributions[row, column]!r} != XGBoost's {expected[row, column]!r}"
    )
    if not sums_to_margin:
        return float(difference.max())
    margin = booster.predict(_dmatrix(rows, feature_types), output_margin=True)
    total = contributions.astype(np.float64).sum(axis=1)
    assert np.abs(total - margin).max() <= TOLERANCE
    return float(difference.max())


@dataclass
class SplitPoints:
    """What the model's splits test, read from its JSON dump: per feature, the numeric
    thresholds (float32, as XGBoost compares) and the category codes named by splits."""

    thresholds: list[FloatMatrix]
    categories: list[FloatMatrix]
    categorical_set_sizes: list[int] = field(default_factory=list)


def _split_points(booster: xgb.Booster, features: int) -> SplitPoints:
    """Every threshold and named category of the model, by feature."""
    learner = json.loads(booster.save_raw(raw_format="json"))["learner"]
    thresholds: list[list[float]] = [[] for _ in range(features)]
    categories: list[list[int]] = [[] for _ in range(features)]
    set_sizes: list[int] = []
    for tree in learner["gradient_booster"]["model"]["trees"]:
        named = {
            node: tree["categories"][start : start + size]
            for node, start, size in zip(
                tree["categories_nodes"],
                tree["categories_segments"],
                tree["categories_sizes"],
                strict=True,
            )
        }
        for node, left in enumerate(tree["left_children"]):
            if left < 0:
                continue
            feature = tree["split_indices"][node]
            if tree["split_type"][node] == 0:
                thresholds[feature].append(tree["split_conditions"][node])
            else:
                categories[feature].extend(named.get(node, []))
                set_sizes.append(len(named.get(node, [])))
    return SplitPoints(
        thresholds=[np.unique(np.array(t, dtype=np.float32)) for t in thresholds],
        categories=[np.unique(np.array(c, dtype=np.float32)) for c in categories],
        categorical_set_sizes=set_sizes,
    )


def _awkward_rows(
    booster: xgb.Booster,
    training: FloatMatrix,
    feature_types: list[str],
    seed: int,
    count: int,
) -> FloatMatrix:
    """Training rows with most cells replaced by a value that sits on a decision boundary:
    thresholds and their float32 neighbours, NaN, +-3e38, -0.0 for numbers; named, unseen,
    negative and fractional codes for categories. The first row is all missing."""
    rng = np.random.default_rng(seed)
    points = _split_points(booster, len(feature_types))
    rows = training[rng.integers(0, len(training), count)].copy()
    for feature, kind in enumerate(feature_types):
        if kind == "q":
            at = points.thresholds[feature]
            choices = np.concatenate(
                [
                    at,
                    np.nextafter(at, np.float32(np.inf)),
                    np.nextafter(at, np.float32(-np.inf)),
                    np.array([np.nan, 3e38, -3e38, -0.0, 0.0], dtype=np.float32),
                ]
            )
        else:
            named = points.categories[feature]
            codes = [*UNSEEN_CODES, *NEGATIVE_CODES, *FRACTIONAL_CODES, -0.0, np.nan]
            choices = np.concatenate(
                [named, named + np.float32(0.5), np.arange(LEVELS), np.array(codes)]
            ).astype(np.float32)
        replaced = rng.random(count) < 0.6
        rows[replaced, feature] = rng.choice(choices, int(replaced.sum()))
    rows[0] = np.nan
    return rows


@dataclass
class Fitted:
    """A trained model, its training rows and its table explainer."""

    kind: str
    depth: int
    booster: xgb.Booster
    feature_types: list[str]
    training: FloatMatrix
    explainer: TableExplainer


class Shelf:
    """Models trained on first use and shared by every test in this file."""

    def __init__(self) -> None:
        self._fitted: dict[tuple[str, int], Fitted] = {}

    def get(self, kind: str, depth: int) -> Fitted:
        if (kind, depth) not in self._fitted:
            categorical = 0 if kind == "numeric" else CATEGORICAL
            training, labels, types = _customer_table(1500, NUMERIC, categorical, seed=depth)
            booster = _train(training, labels, types, depth, trees=20, seed=depth, **KINDS[kind])
            self._fitted[(kind, depth)] = Fitted(
                kind, depth, booster, types, training, _explainer(booster, types)
            )
        return self._fitted[(kind, depth)]


@pytest.fixture(scope="module")
def shelf() -> Shelf:
    return Shelf()


@pytest.fixture(scope="module", params=ALL_MODELS, ids=_model_id)
def model(request: pytest.FixtureRequest, shelf: Shelf) -> Fitted:
    """Every kind of model at every depth 1-6."""
    kind, depth = request.param
    return shelf.get(kind, depth)


@pytest.fixture(scope="module", params=CATEGORICAL_MODELS, ids=_model_id)
def categorical_model(request: pytest.FixtureRequest, shelf: Shelf) -> Fitted:
    """Models with categorical splits, one-hot and partition, at every depth 1-6."""
    kind, depth = request.param
    return shelf.get(kind, depth)


# ---------------------------------------------------------------- equal to pred_contribs


def _deepest_leaf(tree: dict[str, list[int]]) -> int:
    """The depth of a tree's deepest leaf (0: the tree is one leaf)."""
    depth = [0] * len(tree["left_children"])
    for node, (left, right) in enumerate(
        zip(tree["left_children"], tree["right_children"], strict=True)
    ):
        if left >= 0:
            depth[left] = depth[right] = depth[node] + 1
    return max(depth)


def test_the_models_are_what_the_tests_claim(model: Fitted) -> None:
    """Models reach their depth; one-hot models split on single categories and partition
    models on sets of them (else the tests below would test less than they say)."""
    learner = json.loads(model.booster.save_raw(raw_format="json"))["learner"]
    trees = learner["gradient_booster"]["model"]["trees"]
    assert max(_deepest_leaf(tree) for tree in trees) == model.depth
    sizes = _split_points(model.booster, len(model.feature_types)).categorical_set_sizes
    if model.kind == "numeric":
        assert sizes == []
    elif model.kind == "one-hot":
        assert sizes and set(sizes) == {1}
    else:
        assert sizes and max(sizes) > 1


def test_contributions_equal_xgboost_on_training_rows(model: Fitted) -> None:
    _assert_exact(model.explainer, model.booster, model.training, model.feature_types)


def test_contributions_equal_xgboost_at_every_threshold_and_its_float32_neighbours(
    model: Fitted,
) -> None:
    points = _split_points(model.booster, len(model.feature_types))
    rows = []
    for feature, thresholds in enumerate(points.thresholds):
        for i, threshold in enumerate(thresholds):
            for value in (
                threshold,
                np.nextafter(threshold, np.float32(np.inf)),
                np.nextafter(threshold, np.float32(-np.inf)),
            ):
                row = model.training[i % len(model.training)].copy()
                row[feature] = value
                rows.append(row)
    assert rows, "the model has no numeric threshold"
    _assert_exact(model.explainer, model.booster, np.array(rows), model.feature_types)


def test_contributions_equal_xgboost_with_missing_values(model: Fitted) -> None:
    """Missing values follow each node's default direction: one column missing at a time,
    half the cells missing, and a row with nothing but missing values."""
    base = model.training[:100]
    pieces = []
    for feature in range(len(model.feature_types)):
        rows = base.copy()
        rows[:, feature] = np.nan
        pieces.append(rows)
    half = base.copy()
    half[np.random.default_rng(0).random(half.shape) < 0.5] = np.nan
    everything_missing = np.full((1, len(model.feature_types)), np.nan, dtype=np.float32)
    rows = np.concatenate([*pieces, half, everything_missing])
    _assert_exact(model.explainer, model.booster, rows, model.feature_types)


def test_a_row_with_every_value_missing_gets_xgboosts_contributions(model: Fitted) -> None:
    row = np.full((1, len(model.feature_types)), np.nan, dtype=np.float32)
    _assert_exact(model.explainer, model.booster, row, model.feature_types)


def test_contributions_equal_xgboost_at_plus_and_minus_3e38(model: Fitted) -> None:
    base = model.training[:50]
    numeric = [f for f, kind in enumerate(model.feature_types) if kind == "q"]
    pieces = []
    for extreme in (3e38, -3e38):
        for feature in numeric:
            rows = base.copy()
            rows[:, feature] = extreme
            pieces.append(rows)
        rows = base.copy()
        rows[:, numeric] = extreme
        pieces.append(rows)
    _assert_exact(model.explainer, model.booster, np.concatenate(pieces), model.feature_types)


def test_contributions_equal_xgboost_on_awkward_rows(model: Fitted) -> None:
    """Every boundary case at once, mixed within rows."""
    rows = _awkward_rows(model.booster, model.training, model.feature_types, seed=1, count=2000)
    _assert_exact(model.explainer, model.booster, rows, model.feature_types)


def _with_codes(fitted: Fitted, codes: list[float]) -> FloatMatrix:
    """Training rows with one categorical column at a time, then all of them, set to each
    code in turn."""
    base = fitted.training[:60]
    categorical = [f for f, kind in enumerate(fitted.feature_types) if kind == "c"]
    pieces = []
    for code in codes:
        for columns in [[f] for f in categorical] + [categorical]:
            rows = base.copy()
            rows[:, columns] = code
            pieces.append(rows)
    return np.concatenate(pieces).astype(np.float32)


def test_unseen_category_codes_get_xgboosts_contributions(categorical_model: Fitted) -> None:
    """Codes above any seen in training (up to 3e38) go where XGBoost sends them."""
    rows = _with_codes(categorical_model, UNSEEN_CODES)
    _assert_exact(
        categorical_model.explainer,
        categorical_model.booster,
        rows,
        categorical_model.feature_types,
    )


def test_negative_category_codes_get_xgboosts_contributions(categorical_model: Fitted) -> None:
    rows = _with_codes(categorical_model, [*NEGATIVE_CODES, -0.5, -0.0])
    _assert_exact(
        categorical_model.explainer,
        categorical_model.booster,
        rows,
        categorical_model.feature_types,
    )


def test_non_integer_category_codes_get_xgboosts_contributions(
    categorical_model: Fitted,
) -> None:
    """XGBoost truncates a fractional code (2.5 acts as 2) and treats any negative one
    (-0.5) as invalid."""
    named = _split_points(categorical_model.booster, len(categorical_model.feature_types))
    halves = sorted({float(c) + 0.5 for codes in named.categories for c in codes})
    rows = _with_codes(categorical_model, [*FRACTIONAL_CODES, *halves])
    _assert_exact(
        categorical_model.explainer,
        categorical_model.booster,
        rows,
        categorical_model.feature_types,
    )


def test_the_bias_column_is_xgboosts_expected_margin(model: Fitted) -> None:
    expected = _xgboost_contributions(model.booster, model.training[:5], model.feature_types)
    assert model.explainer.bias == pytest.approx(float(expected[0, -1]), abs=TOLERANCE)
    assert np.all(model.explainer.contributions(model.training[:5])[:, -1] == expected[:, -1])


def test_zero_rows_give_an_empty_result(model: Fitted) -> None:
    empty = np.empty((0, len(model.feature_types)), dtype=np.float32)
    contributions = model.explainer.contributions(empty)
    assert contributions.shape == (0, len(model.feature_types) + 1)
    assert contributions.dtype == np.float32


def test_the_explainer_reports_its_size_and_build_time(model: Fitted) -> None:
    assert model.explainer.tables >= 1
    assert model.explainer.table_bytes > 0
    assert model.explainer.build_seconds >= 0


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**31 - 1),
    depth=st.integers(min_value=1, max_value=6),
    numeric=st.integers(min_value=0, max_value=4),
    categorical=st.integers(min_value=0, max_value=3),
    nan_share=st.sampled_from([0.0, 0.05, 0.3, 0.7]),
    kind=st.sampled_from(["one-hot", "partition"]),
    trees=st.integers(min_value=1, max_value=5),
)
def test_random_small_models_match_xgboost_on_awkward_rows(
    seed: int, depth: int, numeric: int, categorical: int, nan_share: float, kind: str, trees: int
) -> None:
    assume(numeric + categorical > 0)
    training, labels, types = _customer_table(300, numeric, categorical, seed, nan_share)
    booster = _train(training, labels, types, depth, trees, seed=seed, **KINDS[kind])
    rows = _awkward_rows(booster, training, types, seed=seed, count=300)
    note(f"model JSON: {booster.save_raw(raw_format='json').decode()[:4000]}")
    _assert_exact(_explainer(booster, types), booster, rows, types)


# ---------------------------------------------------------------- special models


def test_a_model_of_stumps_is_explained_exactly() -> None:
    """Depth-1 trees (the shipped model's shape), many of them, on numbers and categories."""
    training, labels, types = _customer_table(1500, NUMERIC, CATEGORICAL, seed=11, nan_share=0.2)
    booster = _train(training, labels, types, depth=1, trees=60, seed=11, **KINDS["partition"])
    rows = _awkward_rows(booster, training, types, seed=11, count=2000)
    _assert_exact(_explainer(booster, types), booster, np.concatenate([training, rows]), types)


@pytest.mark.parametrize(
    "no_split",
    [{"min_child_weight": 1e9}, {"gamma": 1e9}],
    ids=["huge-min-child-weight", "huge-gamma"],
)
def test_a_model_whose_only_tree_is_a_single_leaf_is_explained_exactly(
    no_split: dict[str, float],
) -> None:
    """No split anywhere: every feature contributes 0 and the bias is the whole margin."""
    training, labels, types = _customer_table(500, NUMERIC, CATEGORICAL, seed=12)
    booster = _train(training, labels, types, depth=3, trees=1, seed=12, **no_split)
    trees = json.loads(booster.save_raw(raw_format="json"))["learner"]["gradient_booster"]
    assert [len(tree["left_children"]) for tree in trees["model"]["trees"]] == [1]
    rows = _awkward_rows(booster, training, types, seed=12, count=200)
    _assert_exact(_explainer(booster, types), booster, rows, types)
    assert np.all(_explainer(booster, types).contributions(rows)[:, :-1] == 0)


def test_a_model_whose_later_trees_are_single_leaves_is_explained_exactly() -> None:
    """With `gamma`, boosting stops splitting after a few trees: the rest are one leaf each."""
    training, labels, types = _customer_table(1500, NUMERIC, CATEGORICAL, seed=3)
    booster = _train(training, labels, types, depth=3, trees=20, seed=3, gamma=10.0)
    trees = json.loads(booster.save_raw(raw_format="json"))["learner"]["gradient_booster"]
    sizes = [len(tree["left_children"]) for tree in trees["model"]["trees"]]
    assert min(sizes) == 1 < max(sizes)
    rows = _awkward_rows(booster, training, types, seed=3, count=1000)
    _assert_exact(_explainer(booster, types), booster, rows, types)


@pytest.mark.parametrize(("cell_limit", "depth"), [(1, 4), (4, 6)])
def test_a_tiny_cell_limit_splits_trees_into_leaf_groups_and_stays_exact(
    shelf: Shelf, cell_limit: int, depth: int
) -> None:
    """Every deep tree split into groups of a few leaves (one leaf each at a limit of 1)."""
    fitted = shelf.get("partition", depth)
    explainer = _explainer(fitted.booster, fitted.feature_types, cell_limit=cell_limit)
    assert explainer.tables > 5 * fitted.explainer.tables  # deep trees really were split
    rows = _awkward_rows(fitted.booster, fitted.training, fitted.feature_types, seed=4, count=2000)
    _assert_exact(explainer, fitted.booster, rows, fitted.feature_types)


def test_a_row_that_sums_thousands_of_tables_is_still_exact() -> None:
    """300 trees split into about 1,900 tables (cell limit 4), contributions near +-10: the
    sum over tables must not lose float32 precision on the way (XGBoost's own rounding
    leaves about 7e-6 here; the tolerance is 1e-5)."""
    rng = np.random.default_rng(2)
    numbers = np.round(rng.normal(size=(1000, 3)), 1).astype(np.float32)
    logit = 4 * numbers[:, 0] + 3 * numbers[:, 1] * numbers[:, 2]
    labels = (rng.random(1000) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    types = ["q"] * 3
    booster = _train(numbers, labels, types, depth=3, trees=300, seed=0, eta=0.5)
    explainer = _explainer(booster, types, cell_limit=4)
    assert explainer.tables > 1000
    rows = _awkward_rows(booster, numbers, types, seed=2, count=1000)
    # Not the sum to the margin: at margins near 10, XGBoost's own contributions miss its
    # float32 margin by 1.5e-5.
    _assert_exact(explainer, booster, rows, types, sums_to_margin=False)


def test_sample_weights_shape_the_covers_as_in_xgboost() -> None:
    """Covers are hessian sums, so weighted rows count more; zero weights and
    `min_child_weight=0` allow children that cover almost nothing."""
    training, labels, types = _customer_table(1000, NUMERIC, CATEGORICAL, seed=5)
    weights = np.random.default_rng(5).choice([0.0, 0.01, 1.0, 5.0], size=len(training))
    data = xgb.DMatrix(
        training, labels, weight=weights, feature_types=types, enable_categorical=True
    )
    parameters = {
        "objective": "binary:logistic", "tree_method": "hist", "nthread": 1, "max_depth": 6,
        "min_child_weight": 0.0, "seed": 5, **KINDS["partition"],
    }  # fmt: skip
    booster = xgb.train(parameters, data, num_boost_round=20)
    rows = _awkward_rows(booster, training, types, seed=5, count=2000)
    _assert_exact(_explainer(booster, types), booster, rows, types)


def test_a_random_forest_is_explained_exactly() -> None:
    """Several trees per round (`num_parallel_tree`), each on a sample of rows and columns."""
    training, labels, types = _customer_table(1500, NUMERIC, CATEGORICAL, seed=13)
    booster = _train(
        training, labels, types, depth=4, trees=4, seed=13,
        num_parallel_tree=5, subsample=0.7, colsample_bynode=0.7, **KINDS["partition"],
    )  # fmt: skip
    rows = _awkward_rows(booster, training, types, seed=13, count=1000)
    _assert_exact(_explainer(booster, types), booster, rows, types)


# ---------------------------------------------------------------- same bytes, any way run


def test_contributions_do_not_depend_on_the_number_of_torch_threads(shelf: Shelf) -> None:
    fitted = shelf.get("partition", 6)
    rows = _awkward_rows(
        fitted.booster, fitted.training, fitted.feature_types, seed=5, count=3 * ROW_BLOCK + 17
    )
    with torch_threads(1):
        one = fitted.explainer.contributions(rows)
    with torch_threads(2):
        two = fitted.explainer.contributions(rows)
    assert one.tobytes() == two.tobytes()


def test_contributions_do_not_depend_on_row_order_or_how_rows_are_split(shelf: Shelf) -> None:
    """Rows explained all at once, in pieces that cut row blocks anywhere, or in reverse
    order get the same bytes."""
    fitted = shelf.get("one-hot", 6)
    rows = _awkward_rows(
        fitted.booster, fitted.training, fitted.feature_types, seed=6, count=2 * ROW_BLOCK + 100
    )
    whole = fitted.explainer.contributions(rows)
    cuts = [0, 1, 8, ROW_BLOCK - 1, ROW_BLOCK + 5, len(rows)]
    pieces = np.concatenate(
        [fitted.explainer.contributions(rows[a:b]) for a, b in itertools.pairwise(cuts)]
    )
    reversed_order = fitted.explainer.contributions(np.ascontiguousarray(rows[::-1]))[::-1]
    assert pieces.tobytes() == whole.tobytes()
    assert np.ascontiguousarray(reversed_order).tobytes() == whole.tobytes()


def test_the_same_model_built_twice_gives_identical_contributions(shelf: Shelf) -> None:
    """Built again, and built from the model saved and loaded again: the same tables."""
    fitted = shelf.get("partition", 5)
    reloaded = xgb.Booster(model_file=bytearray(fitted.booster.save_raw(raw_format="ubj")))
    rows = _awkward_rows(fitted.booster, fitted.training, fitted.feature_types, seed=7, count=500)
    first = fitted.explainer
    for booster in (fitted.booster, reloaded):
        again = _explainer(booster, fitted.feature_types)
        assert (again.tables, again.table_bytes) == (first.tables, first.table_bytes)
        assert again.contributions(rows).tobytes() == first.contributions(rows).tobytes()


# ---------------------------------------------------------------- fallback: no tables


def test_tables_beyond_the_memory_limit_are_not_built_and_the_reason_names_the_megabytes(
    shelf: Shelf,
) -> None:
    fitted = shelf.get("partition", 6)
    megabytes = fitted.explainer.table_bytes / 2**20
    assert megabytes > 1.5
    result = build_explainer(fitted.booster, fitted.feature_types, memory_limit=2**20)
    assert isinstance(result, NoTables)
    sizes = [float(size.replace(",", "")) for size in re.findall(r"([\d,.]+) MB", result.reason)]
    assert sizes, result.reason
    assert abs(sizes[0] - megabytes) <= 1, result.reason  # the size the tables would take
    assert "1 MB" in result.reason  # and the limit


def test_a_memory_limit_of_the_explainers_own_size_is_enough(shelf: Shelf) -> None:
    """`table_bytes` is what the limit is checked against: a limit at it builds."""
    fitted = shelf.get("partition", 6)
    limit = fitted.explainer.table_bytes
    assert isinstance(build_explainer(fitted.booster, fitted.feature_types, limit), TableExplainer)


def test_a_multi_class_model_gets_no_tables() -> None:
    training, labels, types = _customer_table(600, 3, 1, seed=14)
    classes = (labels + (training[:, 0] > 0)).astype(np.float32)
    booster = _train(
        training, classes, types, depth=2, trees=3, seed=14, objective="multi:softprob", num_class=3
    )
    result = build_explainer(booster, types)
    assert isinstance(result, NoTables)
    assert "multi-class" in result.reason


def test_a_model_with_several_targets_gets_no_tables() -> None:
    training, labels, _ = _customer_table(600, 3, 0, seed=16, nan_share=0.0)
    targets = np.column_stack([labels, training[:, 0]]).astype(np.float32)
    parameters = {"tree_method": "hist", "nthread": 1, "max_depth": 2, "seed": 16}
    booster = xgb.train(parameters, xgb.DMatrix(training, targets), num_boost_round=3)
    result = build_explainer(booster, ["q"] * 3)
    assert isinstance(result, NoTables)
    assert "several targets" in result.reason


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("booster_kind", ["gblinear", "dart"])
def test_a_model_that_is_not_plain_gbtree_gets_no_tables(booster_kind: str) -> None:
    training, labels, _ = _customer_table(600, 3, 0, seed=15, nan_share=0.0)
    booster = _train(training, labels, ["q"] * 3, depth=2, trees=3, seed=15, booster=booster_kind)
    result = build_explainer(booster, ["q"] * 3)
    assert isinstance(result, NoTables)
    assert booster_kind in result.reason


def test_a_feature_split_both_as_a_number_and_as_a_category_gets_no_tables() -> None:
    """Trees of a model that read feature 0 as a number, joined with trees that read it as a
    category (XGBoost loads such a model; its tables would give each split the wrong bins)."""
    rng = np.random.default_rng(16)
    matrix = np.column_stack([rng.integers(0, 4, 500), rng.normal(size=500)]).astype(np.float32)
    labels = ((matrix[:, 0] == 2) ^ (matrix[:, 1] > 0)).astype(np.float32)

    def model(types: list[str]) -> dict[str, dict[str, dict[str, object]]]:
        booster = _train(matrix, labels, types, depth=2, trees=2, seed=16, **KINDS["partition"])
        return json.loads(booster.save_raw(raw_format="json"))

    joined = model(["q", "q"])
    trees = joined["learner"]["gradient_booster"]["model"]
    categorical = model(["c", "q"])["learner"]["gradient_booster"]["model"]["trees"]
    for tree in categorical:
        tree["id"] = len(trees["trees"])
        trees["trees"].append(tree)
        trees["tree_info"].append(0)
        trees["iteration_indptr"].append(trees["iteration_indptr"][-1] + 1)
    trees["gbtree_model_param"]["num_trees"] = str(len(trees["trees"]))
    booster = xgb.Booster(model_file=bytearray(json.dumps(joined).encode()))
    result = build_explainer(booster, ["q", "q"])
    assert isinstance(result, NoTables)
    assert "number" in result.reason and "category" in result.reason


def test_a_leaf_whose_path_tests_too_many_features_gets_no_tables() -> None:
    """A tree that splits on every one of 13 two-valued features before reaching a leaf."""
    features = MAX_PATH_FEATURES + 1
    grid = ((np.arange(2**features)[:, None] >> np.arange(features)) & 1) * 2.0 - 1
    target = (grid > 0) @ (1 + 0.01 * np.arange(features))
    data = xgb.DMatrix(grid.astype(np.float32), target)
    parameters = {
        "objective": "reg:squarederror", "tree_method": "hist", "nthread": 1,
        "max_depth": features, "eta": 1.0, "min_child_weight": 0, "reg_lambda": 0,
    }  # fmt: skip
    booster = xgb.train(parameters, data, num_boost_round=1)
    result = build_explainer(booster, ["q"] * features)
    assert isinstance(result, NoTables)
    assert f"{features} features" in result.reason

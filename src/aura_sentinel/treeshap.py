"""Exact path-dependent TreeSHAP from tables built once per model.

A tree's TreeSHAP contributions for a row depend only on which side of each split the row
falls, so they can be tabulated. Each feature's values are binned against every threshold
(or category set) the model uses for it; a group of trees (or of a deep tree's leaves) sees
only a few joint bins - its cells - and its summed contribution vector is stored for every
cell. Per row the work is then a sorted search per feature, a cell code per group and one
gather-and-sum over the groups (torch's `embedding_bag`), with no loop over rows.

The tables hold what XGBoost's `pred_contribs=True` gives (covers are the nodes' hessian
sums, missing values take each node's default direction, rows are compared as float32), so
the contributions agree with it to float32 rounding.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import xgboost as xgb

if TYPE_CHECKING:
    import torch

FloatMatrix = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

DEFAULT_MEMORY_LIMIT = 256 * 2**20
"""Tables beyond this size are not built: `score` falls back to XGBoost's own TreeSHAP."""
CELL_LIMIT = 2048
"""Most cells in one table. Larger tables mean fewer gathers per row but more memory and
slower builds."""
MAX_PATH_FEATURES = 12
"""Most distinct features on one leaf's path: a leaf's table has 2^features rows."""
ROW_BLOCK = 8192
"""Rows explained together: the cell codes of a block stay in cache."""
TABLES_PER_SUM = 32
"""Tables summed in float32 at a time; the partial sums are added in float64, so rounding
does not grow with the number of tables."""


@dataclass(frozen=True)
class _Tree:
    """One tree's arrays, as XGBoost stores them; leaves have `left` == -1."""

    left: IntArray
    right: IntArray
    feature: IntArray
    threshold: npt.NDArray[np.float32]
    default_left: BoolArray
    categories: dict[int, IntArray]
    cover: npt.NDArray[np.float64]
    leaf_value: npt.NDArray[np.float64]


@dataclass(frozen=True)
class _FeatureBins:
    """How one feature's values map to bins: every split on the feature decides by bin alone.

    Numeric: bin = number of the model's thresholds <= x (0..k). Categorical: the index of the
    category among those the model names (0..m-1), m for any other code. Missing: the last bin.
    """

    categorical: bool
    edges: npt.NDArray[np.float32]
    """Sorted thresholds (numeric) or named category codes (categorical)."""

    @property
    def count(self) -> int:
        return len(self.edges) + 2

    def bins(self, values: FloatMatrix) -> IntArray:
        """The bin of every value in one column."""
        if not self.categorical:
            # NaN sorts after every number, so a trailing NaN edge gives missing the last bin.
            return np.searchsorted(self._numeric_edges, values, side="right")
        codes = np.trunc(values)
        position = np.searchsorted(self.edges, codes)
        found = np.minimum(position, len(self.edges) - 1)
        named = (values >= 0) & (position < len(self.edges)) & (self.edges[found] == codes)
        result = np.where(named, position, len(self.edges))
        return np.where(np.isnan(values), len(self.edges) + 1, result)

    @cached_property
    def _numeric_edges(self) -> npt.NDArray[np.float32]:
        return np.append(self.edges, np.float32("nan"))

    def goes_left(self, tree: _Tree, node: int) -> BoolArray:
        """For each bin, whether `node` sends it left."""
        decisions = np.empty(self.count, dtype=bool)
        if self.categorical:
            decisions[:-1] = True  # an unnamed or invalid category goes left, as in XGBoost
            decisions[:-2] = ~np.isin(self.edges, tree.categories[node])
        else:
            position = int(np.searchsorted(self.edges, tree.threshold[node]))
            decisions[:-1] = np.arange(self.count - 1) <= position
        decisions[-1] = tree.default_left[node]
        return decisions


@dataclass(frozen=True)
class _Table:
    """The summed contributions of some leaves for every cell of their features' bins."""

    features: tuple[int, ...]
    local_bins: tuple[IntArray, ...]
    """Per feature: global bin -> this table's bin, already times the feature's stride."""
    values: npt.NDArray[np.float32]
    """cells x features of the model."""


class TableExplainer:
    """Per-row TreeSHAP contributions of a binary XGBoost model, computed from tables."""

    def __init__(
        self,
        bins: list[_FeatureBins | None],
        tables: list[_Table],
        bias: float,
        build_seconds: float,
    ) -> None:
        self.features = len(bins)
        self.bias = bias
        self.build_seconds = build_seconds
        self.tables = len(tables)
        self._split = [(feature, b) for feature, b in enumerate(bins) if b is not None]
        """The features the model splits on, with their bins."""
        self._first_row = np.cumsum([0] + [b.count for _, b in self._split])
        self._sums = [
            self._summed(tables[start : start + TABLES_PER_SUM])
            for start in range(0, len(tables), TABLES_PER_SUM)
        ]
        self.table_bytes = sum(4 * (parts.numel() + values.numel()) for parts, values in self._sums)

    def _summed(self, tables: list[_Table]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tables summed in one pass: (code parts, values). Cell codes are sums too: each
        (feature, bin) row of the parts holds that bin's share of every table's code, and a last
        row every table's first cell; float32 keeps them exact below 2^24 cells."""
        import torch

        parts = np.zeros((self._first_row[-1] + 1, len(tables)), dtype=np.float32)
        parts[-1] = np.cumsum([0] + [len(table.values) for table in tables])[:-1]
        position = {feature: i for i, (feature, _) in enumerate(self._split)}
        for g, table in enumerate(tables):
            for feature, local in zip(table.features, table.local_bins, strict=True):
                start = self._first_row[position[feature]]
                parts[start : start + len(local), g] = local
        values = np.concatenate([table.values for table in tables])
        return torch.from_numpy(parts), torch.from_numpy(values)

    def contributions(self, matrix: FloatMatrix) -> FloatMatrix:
        """N x (features + 1): each feature's contribution to the margin, then the bias."""
        result = np.empty((len(matrix), self.features + 1), dtype=np.float32)
        result[:, -1] = self.bias
        for start in range(0, len(matrix), ROW_BLOCK):
            block = matrix[start : start + ROW_BLOCK]
            result[start : start + len(block), :-1] = self._block(block)
        return result

    def _block(self, block: FloatMatrix) -> npt.NDArray[np.float64]:
        import torch

        rows = np.empty((len(block), len(self._split) + 1), dtype=np.int64)
        for i, (feature, feature_bins) in enumerate(self._split):
            rows[:, i] = feature_bins.bins(block[:, feature]) + self._first_row[i]
        rows[:, -1] = self._first_row[-1]
        bins = torch.from_numpy(rows)
        bag = torch.nn.functional.embedding_bag
        total = np.zeros((len(block), self.features), dtype=np.float64)
        for parts, values in self._sums:
            codes = bag(bins, parts, mode="sum").to(torch.int64)
            total += bag(codes, values, mode="sum").numpy()
        return total


@dataclass(frozen=True)
class NoTables:
    """Why a model gets no table explainer (scoring then uses XGBoost's own TreeSHAP)."""

    reason: str


def build_explainer(
    booster: xgb.Booster,
    feature_types: list[str],
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    cell_limit: int = CELL_LIMIT,
) -> TableExplainer | NoTables:
    """The table explainer of a binary tree model, or why there is none: its tables would
    take more than `memory_limit` bytes, or the model is of a kind the tables do not cover."""
    import torch  # noqa: F401  (imported here, so its load does not count as build time)

    began = time.perf_counter()
    learner = json.loads(booster.save_raw(raw_format="json"))["learner"]
    if learner["gradient_booster"]["name"] != "gbtree":
        return NoTables(f"a {learner['gradient_booster']['name']} model")
    outputs = learner["learner_model_param"]
    if int(outputs["num_class"]) > 1:
        return NoTables("a multi-class model")
    if int(outputs.get("num_target", 1)) > 1:
        return NoTables("a model with several targets")
    trees = [_parse_tree(tree) for tree in learner["gradient_booster"]["model"]["trees"]]
    bins = _feature_bins(trees, feature_types)
    if bins is None:
        return NoTables("a feature split both as a number and as a category")
    games = _leaf_games(trees)
    widest = max((len(game.features) for game in games.values()), default=0)
    if widest > MAX_PATH_FEATURES:
        return NoTables(
            f"a leaf whose path tests {widest} features (tables take at most {MAX_PATH_FEATURES})"
        )
    decisions = _Decisions(trees, bins)
    units = [
        unit for t, tree in enumerate(trees) for unit in _units(t, tree, decisions, cell_limit)
    ]
    groups = _merged(units, decisions, cell_limit)
    cells = sum(group.cells for group in groups)
    if cells >= 2**24:  # cell codes are summed as float32, exact below 2^24
        return NoTables(f"its tables would have {cells:,} cells (at most {2**24 - 1:,})")
    bins_total = sum(feature_bins.count for feature_bins in bins if feature_bins is not None)
    needed = 4 * (cells * len(feature_types) + (bins_total + 1) * len(groups))
    if needed > memory_limit:
        return NoTables(
            f"its tables would take {needed / 2**20:,.0f} MB (limit {memory_limit / 2**20:,.0f} MB)"
        )
    tables = [_table(group, decisions, games, len(feature_types)) for group in groups]
    bias = _bias(booster, feature_types)
    return TableExplainer(bins, tables, bias, time.perf_counter() - began)


def _parse_tree(tree: dict[str, list[float]]) -> _Tree:
    def ints(key: str) -> IntArray:
        return np.asarray(tree[key], dtype=np.int64)

    left = ints("left_children")
    codes = ints("categories")
    categories = {
        int(node): codes[segment : segment + size]
        for node, segment, size in zip(
            ints("categories_nodes"),
            ints("categories_segments"),
            ints("categories_sizes"),
            strict=True,
        )
    }
    for node in np.flatnonzero((ints("split_type") == 1) & (left >= 0)):
        categories.setdefault(int(node), np.zeros(0, dtype=np.int64))
    conditions = np.asarray(tree["split_conditions"], dtype=np.float32)
    return _Tree(
        left=left,
        right=ints("right_children"),
        feature=ints("split_indices"),
        threshold=conditions,
        default_left=ints("default_left").astype(bool),
        categories=categories,
        cover=np.asarray(tree["sum_hessian"], dtype=np.float64),
        leaf_value=conditions.astype(np.float64),  # a leaf's "condition" is its value
    )


Node = tuple[int, int]
"""(tree, node)."""


def _feature_bins(trees: list[_Tree], feature_types: list[str]) -> list[_FeatureBins | None] | None:
    """Each feature's bins over every split on it in the model (None: never split on)."""
    edges: list[list[npt.NDArray[np.float32]]] = [[] for _ in feature_types]
    kinds: list[set[bool]] = [set() for _ in feature_types]
    for tree in trees:
        for node in np.flatnonzero(tree.left >= 0):
            feature = int(tree.feature[node])
            categorical = int(node) in tree.categories
            kinds[feature].add(categorical)
            if categorical:
                edges[feature].append(tree.categories[int(node)].astype(np.float32))
            else:
                edges[feature].append(tree.threshold[node : node + 1])
    bins: list[_FeatureBins | None] = []
    for feature_edges, kind in zip(edges, kinds, strict=True):
        if len(kind) > 1:
            return None  # numeric and categorical splits on one feature: not tabulated
        if not kind:
            bins.append(None)
            continue
        values = np.unique(np.concatenate(feature_edges)).astype(np.float32)
        bins.append(_FeatureBins(categorical=kind.pop(), edges=values))
    return bins


def _subtree(tree: _Tree, node: int) -> tuple[list[int], list[int]]:
    """The internal nodes and the leaves below `node` (itself included)."""
    internal: list[int] = []
    leaves: list[int] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if tree.left[current] < 0:
            leaves.append(current)
        else:
            internal.append(current)
            stack.extend((int(tree.right[current]), int(tree.left[current])))
    return internal, leaves


def _paths(tree: _Tree) -> dict[int, tuple[tuple[int, bool], ...]]:
    """Every leaf's path from the root: (node, went left) pairs."""
    paths: dict[int, tuple[tuple[int, bool], ...]] = {}
    stack: list[tuple[int, tuple[tuple[int, bool], ...]]] = [(0, ())]
    while stack:
        node, path = stack.pop()
        if tree.left[node] < 0:
            paths[node] = path
        else:
            stack.append((int(tree.left[node]), (*path, (node, True))))
            stack.append((int(tree.right[node]), (*path, (node, False))))
    return paths


class _Decisions:
    """Which way every split node sends every bin of its feature, computed once per node."""

    def __init__(self, trees: list[_Tree], bins: list[_FeatureBins | None]) -> None:
        self.trees = trees
        self.bins = bins
        self._cache: dict[Node, BoolArray] = {}
        self._partitions: dict[tuple[Node, ...], tuple[IntArray, int]] = {}

    def feature(self, node: Node) -> int:
        return int(self.trees[node[0]].feature[node[1]])

    def goes_left(self, node: Node) -> BoolArray:
        if node not in self._cache:
            feature_bins = self.bins[self.feature(node)]
            assert feature_bins is not None
            self._cache[node] = feature_bins.goes_left(self.trees[node[0]], node[1])
        return self._cache[node]

    def cells(self, nodes: list[Node]) -> tuple[int, list[tuple[int, IntArray, int]]]:
        """The cells of `nodes`' features, and per feature: (feature, global bin -> local bin,
        local bins)."""
        by_feature: dict[int, list[Node]] = {}
        for node in nodes:
            by_feature.setdefault(self.feature(node), []).append(node)
        count = 1
        layout: list[tuple[int, IntArray, int]] = []
        for feature in sorted(by_feature):
            inverse, local = self._partition(tuple(sorted(by_feature[feature])))
            layout.append((feature, inverse, local))
            count *= local
        return count, layout

    def _partition(self, nodes: tuple[Node, ...]) -> tuple[IntArray, int]:
        """Bins that every one of `nodes` (all on one feature) sends the same way share a
        local bin: global bin -> local bin, and the number of local bins."""
        if nodes not in self._partitions:
            signatures = np.stack([self.goes_left(node) for node in nodes], axis=1)
            if len(nodes) < 63:
                packed = signatures.astype(np.int64) @ (1 << np.arange(len(nodes), dtype=np.int64))
                _, inverse = np.unique(packed, return_inverse=True)
            else:
                _, inverse = np.unique(signatures, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1).astype(np.int64)
            self._partitions[nodes] = (inverse, int(inverse.max()) + 1)
        return self._partitions[nodes]


@dataclass(frozen=True)
class _Group:
    nodes: list[Node]
    leaves: list[tuple[int, int]]
    """(tree, leaf node)."""
    cells: int


def _units(t: int, tree: _Tree, decisions: _Decisions, cell_limit: int) -> list[_Group]:
    """A tree as whole as its cells allow: a subtree too big for one table is split at its
    root, both halves keeping the root's condition."""
    units: list[_Group] = []
    stack: list[tuple[int, list[Node]]] = [(0, [])]
    while stack:
        node, prefix = stack.pop()
        internal, leaves = _subtree(tree, node)
        nodes = prefix + [(t, n) for n in internal]
        if not nodes:
            continue  # a tree that is a single leaf adds to the bias only
        cells = decisions.cells(nodes)[0]
        if not internal or cells <= cell_limit:
            units.append(_Group(nodes, [(t, leaf) for leaf in leaves], cells))
        else:
            inner = [*prefix, (t, node)]
            stack.append((int(tree.right[node]), inner))
            stack.append((int(tree.left[node]), inner))
    return units


def _merged(units: list[_Group], decisions: _Decisions, cell_limit: int) -> list[_Group]:
    """Units on the same features share a table while its cells stay within the limit."""
    ordered = sorted(units, key=lambda unit: sorted({decisions.feature(n) for n in unit.nodes}))
    groups: list[_Group] = []
    for unit in ordered:
        if groups:
            candidate = groups[-1].nodes + unit.nodes
            cells = decisions.cells(candidate)[0]
            if cells <= cell_limit:
                groups[-1] = _Group(candidate, groups[-1].leaves + unit.leaves, cells)
                continue
        groups.append(unit)
    return groups


@dataclass(frozen=True)
class _LeafGame:
    """One leaf's contribution game: its path's distinct features, the path's nodes on each
    (node, went left), the share of the cover that follows the path on each, and its value."""

    features: tuple[int, ...]
    conditions: tuple[tuple[tuple[int, bool], ...], ...]
    zero: tuple[float, ...]
    value: float


def _leaf_games(trees: list[_Tree]) -> dict[tuple[int, int], _LeafGame]:
    """Every leaf's game, by (tree, leaf)."""
    games: dict[tuple[int, int], _LeafGame] = {}
    for t, tree in enumerate(trees):
        for leaf, path in _paths(tree).items():
            conditions: dict[int, list[tuple[int, bool]]] = {}
            zero: dict[int, float] = {}
            for node, went_left in path:
                feature = int(tree.feature[node])
                child = tree.left[node] if went_left else tree.right[node]
                conditions.setdefault(feature, []).append((node, went_left))
                zero[feature] = zero.get(feature, 1.0) * tree.cover[child] / tree.cover[node]
            games[(t, leaf)] = _LeafGame(
                features=tuple(conditions),
                conditions=tuple(tuple(c) for c in conditions.values()),
                zero=tuple(zero.values()),
                value=float(tree.leaf_value[leaf]),
            )
    return games


def _table(
    group: _Group,
    decisions: _Decisions,
    games: dict[tuple[int, int], _LeafGame],
    features: int,
) -> _Table:
    """The group's summed leaf contributions for every cell (float64, stored as float32)."""
    count, layout = decisions.cells(group.nodes)
    cell = np.arange(count)
    representative: dict[int, IntArray] = {}
    local_bins: list[IntArray] = []
    stride = 1
    for feature, inverse, local in reversed(layout):
        first_bin = np.zeros(local, dtype=np.int64)
        first_bin[inverse[::-1]] = np.arange(len(inverse))[::-1]
        representative[feature] = first_bin[(cell // stride) % local]
        local_bins.append(inverse * stride)
        stride *= local
    local_bins.reverse()
    values = np.zeros((count, features), dtype=np.float64)
    by_width: dict[int, list[tuple[int, int]]] = {}
    for key in group.leaves:
        by_width.setdefault(len(games[key].features), []).append(key)
    shapley: dict[tuple[int, int], npt.NDArray[np.float64]] = {}
    for width, keys in by_width.items():
        zero = np.array([games[key].zero for key in keys]).reshape(-1, width)
        tables = _shapley_tables(zero, np.array([games[key].value for key in keys]))
        shapley.update(zip(keys, tables, strict=True))
    for t, leaf in group.leaves:
        game = games[(t, leaf)]
        pattern = np.zeros(count, dtype=np.int64)
        for position, (feature, conditions) in enumerate(
            zip(game.features, game.conditions, strict=True)
        ):
            satisfied = np.ones(count, dtype=bool)
            for node, went_left in conditions:
                goes_left = decisions.goes_left((t, node))[representative[feature]]
                satisfied &= goes_left == went_left
            pattern |= satisfied.astype(np.int64) << position
        values[:, list(game.features)] += shapley[(t, leaf)][pattern]
    return _Table(
        features=tuple(feature for feature, _, _ in layout),
        local_bins=tuple(local_bins),
        values=values.astype(np.float32),
    )


def _shapley_tables(
    zero: npt.NDArray[np.float64], value: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Shapley values of leaf games for every pattern of satisfied path features.

    A leaf's expected value given a coalition S is value x prod(one_j, j in S) x
    prod(zero_j, j not in S), with one_j in {0, 1} (the row satisfies all of the path's
    conditions on feature j) and zero_j the share of the cover that follows the path there.
    `zero` is leaves x u; returns leaves x 2^u x u, pattern = sum(one_j << j).
    """
    leaves, u = zero.shape
    patterns = 1 << u
    one = ((np.arange(patterns)[:, None] >> np.arange(u)) & 1).astype(np.float64)
    weights = np.array(
        [math.factorial(s) * math.factorial(u - 1 - s) / math.factorial(u) for s in range(u)]
    )
    shapley = np.empty((leaves, patterns, u), dtype=np.float64)
    for j in range(u):
        # Coefficients of prod over k != j of (zero_k + one_k x t): the coalition sizes.
        coefficients = np.zeros((leaves, patterns, u), dtype=np.float64)
        coefficients[:, :, 0] = 1.0
        for k in range(u):
            if k != j:
                shifted = np.zeros_like(coefficients)
                shifted[:, :, 1:] = coefficients[:, :, :-1] * one[None, :, k : k + 1]
                coefficients = coefficients * zero[:, k, None, None] + shifted
        gain = one[None, :, j] - zero[:, j, None]
        shapley[:, :, j] = value[:, None] * gain * (coefficients @ weights)
    return shapley


def _bias(booster: xgb.Booster, feature_types: list[str]) -> float:
    """XGBoost's own bias column: the base margin plus every tree's cover-weighted mean."""
    row = np.full((1, len(feature_types)), np.nan, dtype=np.float32)
    data = xgb.DMatrix(row, feature_types=feature_types, enable_categorical=True)
    return float(booster.predict(data, pred_contribs=True)[0, -1])

"""Drift: how far the customers being scored are from the customers the model was trained on.

At training, every feature of the model matrix and every state field read from the table keeps
its training distribution (`ColumnDistribution`): a number column in up to ten quantile bins, a
category column by level (plus one bin for a level training never saw), and the share of missing
values. At scoring, each batch's rows are counted into the same bins (`count_bins`: a few
comparisons or one `bincount` per column, no loop over rows); the counts add up over the batches,
so the answer does not depend on the batch size. The population stability index compares the two:

    PSI = sum over the bins (missing included) of (a - e) * ln(a / e)

with `a` the scored share and `e` the training share, each at least SHARE_FLOOR so that an empty
bin stays finite. Below 0.1 reads as stable; above PSI_WARNING the summary names the column.
State fields also count the rows outside the training range (below its minimum or above its
maximum): the policy never saw such customers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aura_sentinel.features import FeatureSpec, Kind
from aura_sentinel.retention.state import STATE_COLUMNS, TENURE, StateMatrix
from aura_sentinel.schema import FLOAT32_MAX

PSI_WARNING = 0.25
MAX_BINS = 10
SHARE_FLOOR = 1e-4
STATE_PREFIX = "state:"
STATE_FIELDS = STATE_COLUMNS[TENURE:]
"""The state fields read from number columns of the customer table (the others come from the
churn model or are codes of text columns, which the features already cover)."""
_SHARES_TOLERANCE = 1e-6

Counts = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ColumnDistribution:
    """One column's training distribution.

    Numbers: `edges` are the ascending interior cut points, so bin i holds the values from
    edges[i - 1] (included) up to edges[i] (excluded); `low`/`high` are the training minimum and
    maximum. Categories: one bin per level of `levels`, then one for any other level. `shares`
    (one per bin) and `missing_share` are shares of all training rows: together they add up to 1.
    """

    name: str
    """A feature name, or "state:<field>" for a state field."""
    kind: Kind
    edges: tuple[float, ...]
    levels: tuple[str, ...]
    shares: tuple[float, ...]
    missing_share: float
    low: float
    high: float

    @property
    def bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "number" else len(self.levels) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "levels": list(self.levels),
            "shares": list(self.shares),
            "missing_share": self.missing_share,
            "low": self.low,
            "high": self.high,
        }

    def problem(self) -> tuple[str, str] | None:
        """(field, what is wrong) for the first field that breaks the rules above, or None."""
        if self.kind == "number":
            if self.levels:
                return "levels", "are given for a number column"
            if len(self.edges) >= MAX_BINS:
                return "edges", f"are {len(self.edges)}, allowed at most {MAX_BINS - 1}"
            if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
                return "edges", "are not in strictly ascending order"
            for name, values in (
                ("edges", self.edges),
                ("low", (self.low,)),
                ("high", (self.high,)),
            ):
                if any(abs(value) > FLOAT32_MAX for value in values):
                    return name, "holds a number beyond float32 (about 3.4e38)"
            if self.low > self.high:
                return "low", f"is {self.low:g}, above high ({self.high:g})"
        else:
            if self.edges:
                return "edges", "are given for a category column"
            if self.low != 0 or self.high != 0:
                return "low", "and high are not 0 for a category column"
        if len(self.shares) != self.bins:
            return "shares", f"are {len(self.shares)}, not one per bin ({self.bins})"
        total = math.fsum(self.shares) + self.missing_share
        if abs(total - 1) > _SHARES_TOLERANCE:
            return "shares", f"and missing_share add up to {total:g}, not 1"
        return None


def fit_distributions(
    spec: FeatureSpec, matrix: npt.NDArray[np.float32]
) -> tuple[ColumnDistribution, ...]:
    """The training distribution of every feature of `matrix` (the model matrix of `spec`)."""
    return tuple(
        _fit(column.name, column.kind, column.levels, matrix[:, index])
        for index, column in enumerate(spec.columns)
    )


def with_state(
    distributions: tuple[ColumnDistribution, ...], state: StateMatrix
) -> tuple[ColumnDistribution, ...]:
    """`distributions` with those of the state fields replaced by the ones of `state`."""
    features = tuple(item for item in distributions if not item.name.startswith(STATE_PREFIX))
    fields = tuple(
        _fit(STATE_PREFIX + name, "number", (), state[:, STATE_COLUMNS.index(name)])
        for name in STATE_FIELDS
    )
    return features + fields


def distributions_problem(
    distributions: tuple[ColumnDistribution, ...], spec: FeatureSpec
) -> tuple[str, str] | None:
    """(key under "distributions", what is wrong) when the distributions do not fit the features
    of `spec` (each feature once, with its kind and levels) or name an unknown column."""
    features = {column.name: column for column in spec.columns}
    seen: set[str] = set()
    for index, item in enumerate(distributions):
        key = f"[{index}].name"
        if item.name in seen:
            return key, f"'{item.name}' appears twice"
        seen.add(item.name)
        column = features.get(item.name)
        if column is None:
            if item.name.removeprefix(STATE_PREFIX) not in STATE_FIELDS or item.kind != "number":
                return key, f"'{item.name}' is neither a feature nor a number state field"
        elif (column.kind, column.levels) != (item.kind, item.levels):
            return key, f"'{item.name}' has another kind or other levels than the feature"
    for name in features:
        if name not in seen:
            return "", f"has no entry for the feature '{name}'"
    return None


@dataclass(frozen=True)
class BinCounts:
    """Rows per bin of each column (a last count: missing values), and rows outside the
    training range of each state field; for one batch, or added up over many."""

    rows: dict[str, Counts]
    outside: dict[str, int]

    def __add__(self, other: BinCounts) -> BinCounts:
        return BinCounts(
            {name: counts + other.rows[name] for name, counts in self.rows.items()},
            {name: count + other.outside[name] for name, count in self.outside.items()},
        )


def count_bins(
    distributions: tuple[ColumnDistribution, ...],
    spec: FeatureSpec,
    matrix: npt.NDArray[np.float32],
    state: StateMatrix,
    unseen: dict[str, int],
) -> BinCounts:
    """One batch's rows counted into each column's training bins.

    `matrix` is the batch's model matrix, `state` its state matrix, and `unseen` the rows per
    category column whose level training never saw (coded as missing in `matrix`).
    """
    feature_index = {name: index for index, name in enumerate(spec.names)}
    features, fields = _by_column(matrix), _by_column(state)
    rows, outside = {}, {}
    for item in distributions:
        if item.name.startswith(STATE_PREFIX):
            values = fields[STATE_COLUMNS.index(item.name.removeprefix(STATE_PREFIX))]
            outside[item.name] = int(
                np.count_nonzero(values < item.low) + np.count_nonzero(values > item.high)
            )
        else:
            values = features[feature_index[item.name]]
        if item.kind == "number":
            rows[item.name] = _number_counts(values, item.edges)
        else:
            rows[item.name] = _category_counts(values, len(item.levels), unseen.get(item.name, 0))
    return BinCounts(rows, outside)


def population_stability(
    distributions: tuple[ColumnDistribution, ...], counts: BinCounts | None
) -> dict[str, float]:
    """The PSI of every column against its training distribution; empty when no rows were
    counted."""
    psi = {}
    for item in distributions:
        rows = None if counts is None else counts.rows.get(item.name)
        if rows is None or rows.sum() == 0:
            continue
        actual = np.maximum(rows / rows.sum(), SHARE_FLOOR)
        expected = np.maximum(np.array([*item.shares, item.missing_share]), SHARE_FLOOR)
        psi[item.name] = float(np.sum((actual - expected) * np.log(actual / expected)))
    return psi


def drifted(psi: dict[str, float]) -> list[tuple[str, float]]:
    """The columns with a PSI above PSI_WARNING, the largest first (then by name)."""
    return sorted(
        ((name, value) for name, value in psi.items() if value > PSI_WARNING),
        key=lambda item: (-item[1], item[0]),
    )


def _fit(
    name: str, kind: Kind, levels: tuple[str, ...], column: npt.NDArray[np.float32]
) -> ColumnDistribution:
    values = np.ascontiguousarray(column, dtype=np.float32)
    edges: tuple[float, ...] = ()
    low = high = 0.0
    present = values[~np.isnan(values)]
    if kind == "number" and present.size:
        cuts = np.quantile(present, np.arange(1, MAX_BINS) / MAX_BINS)
        # float32 cut points: compared with float32 values the same way at any precision.
        edges = tuple(np.unique(cuts.astype(np.float32)).astype(np.float64).tolist())
        low, high = float(present.min()), float(present.max())
    counts = (
        _number_counts(values, edges)
        if kind == "number"
        else _category_counts(values, len(levels), 0)
    )
    shares = (counts / values.size).tolist()
    return ColumnDistribution(
        name=name,
        kind=kind,
        edges=edges,
        levels=levels,
        shares=tuple(shares[:-1]),
        missing_share=shares[-1],
        low=low,
        high=high,
    )


def _number_counts(values: npt.NDArray[np.float32], edges: tuple[float, ...]) -> Counts:
    """Rows per bin, then missing (NaN) rows: each bin is the difference of the counts below
    its two edges (one comparison per edge; a NaN is below none)."""
    missing = np.count_nonzero(np.isnan(values))
    below = [np.count_nonzero(values < np.float32(edge)) for edge in edges]
    cumulative = np.array([0, *below, values.size - missing], dtype=np.int64)
    return np.append(np.diff(cumulative), missing)


def _category_counts(codes: npt.NDArray[np.float32], levels: int, unseen: int) -> Counts:
    """Rows per level, then rows of another level, then missing rows. A code is NaN for a blank
    cell and for a level training never saw: `unseen` of them are the latter."""
    counts = _number_counts(codes, tuple(np.arange(levels - 1) + 0.5))  # codes 0, 1, ...
    return np.concatenate([counts[:levels], [unseen, counts[levels] - unseen]])


# Rows transposed at a time: a block this size stays in the CPU cache while it is read across,
# which makes the transposition about four times faster than one strided copy.
_BLOCK_ROWS = 4096


def _by_column(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The matrix transposed, so that each column is contiguous (compared many times)."""
    columns = np.empty((matrix.shape[1], matrix.shape[0]), dtype=np.float32)
    for start in range(0, matrix.shape[0], _BLOCK_ROWS):  # blocks of rows, not rows
        columns[:, start : start + _BLOCK_ROWS] = matrix[start : start + _BLOCK_ROWS].T
    return columns

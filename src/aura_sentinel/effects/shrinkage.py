"""Shrinkage of per-customer effects as a rule that also applies to customers never seen.

Within a cell (contract x tenure band), the shrunk effect of action a is

    slope_a x estimate_a + offset[cell, a],

where the estimate is the learner's p_a - p_0, the slope keeps the share of a customer's own
deviation the log confirms, and the offset moves the cell's mean to its doubly-robust (AIPW)
effect (see `inference.shrink_effects`). A cell training never saw takes the average offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aura_sentinel.retention.state import CONTRACT, TENURE, StateMatrix

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CONTRACTS = ("Month-to-month", "One year", "Two year")
TENURE_BANDS = (12.0, 24.0, 48.0)
TENURE_LABELS = ("0-12 months", "13-24 months", "25-48 months", "49+ months")


@dataclass(frozen=True)
class Shrinkage:
    slopes: tuple[float, ...]
    """Per action: the share of a customer's own deviation from the cell's effect kept."""
    cells: tuple[int, ...]
    """The cell codes seen in training, ascending."""
    offsets: tuple[tuple[float, ...], ...]
    """Per cell (as in `cells`), per action: what is added to slope x estimate."""
    default_offset: tuple[float, ...]
    """Per action: the offset of a cell training never saw (the rows' average)."""

    @classmethod
    def fitted(
        cls,
        estimated: FloatArray,
        shrunk: FloatArray,
        slopes: tuple[float, ...],
        cells: IntArray,
    ) -> Shrinkage:
        """The rule that turns `estimated` into `shrunk` (N x A) row by row."""
        offset = shrunk - estimated * np.asarray(slopes)[None, :]
        seen, index = np.unique(cells, return_inverse=True)
        counts = np.bincount(index).astype(np.float64)
        per_cell = np.stack(
            [np.bincount(index, offset[:, a]) / counts for a in range(offset.shape[1])], axis=1
        )
        return cls(
            slopes=tuple(float(value) for value in slopes),
            cells=tuple(int(cell) for cell in seen),
            offsets=tuple(tuple(float(value) for value in row) for row in per_cell),
            default_offset=tuple(float(value) for value in offset.mean(axis=0)),
        )

    def apply(self, estimated: FloatArray, cells: IntArray) -> FloatArray:
        """The shrunk effects (N x A) of customers with these estimates and cells."""
        table = np.asarray([*self.offsets, self.default_offset], dtype=np.float64)
        known = np.asarray(self.cells, dtype=np.int64)
        position = np.searchsorted(known, cells)
        found = (position < known.size) & (known[np.minimum(position, known.size - 1)] == cells)
        rows = np.where(found, position, known.size)
        shrunk: FloatArray = estimated * np.asarray(self.slopes)[None, :] + table[rows]
        return shrunk

    def to_json(self) -> dict[str, Any]:
        return {
            "slopes": list(self.slopes),
            "cells": list(self.cells),
            "offsets": [list(row) for row in self.offsets],
            "default_offset": list(self.default_offset),
        }


def shrinkage_cells(state: StateMatrix, segmented: tuple[str, ...]) -> IntArray:
    """The cell each customer's effect is shrunk towards: contract x tenure band, each only
    when the table has its column (else every customer is in one cell)."""
    codes = np.zeros(state.shape[0], dtype=np.int64)
    if "contract" in segmented:
        codes = codes * len(CONTRACTS) + contract_codes(state)
    if "tenure" in segmented:
        codes = codes * len(TENURE_LABELS) + tenure_bands(state)
    return codes


def contract_codes(state: StateMatrix) -> IntArray:
    codes: IntArray = np.clip(np.rint(state[:, CONTRACT]), 0, 2).astype(np.int64)
    return codes


def tenure_bands(state: StateMatrix) -> IntArray:
    bands = np.searchsorted(np.asarray(TENURE_BANDS), state[:, TENURE], side="left")
    return bands.astype(np.int64)

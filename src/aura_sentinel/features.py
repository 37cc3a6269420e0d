"""The feature spec: which columns feed the churn model, and how, fitted once and applied anywhere.

Numbers stay numbers (blank -> missing). Text with few distinct values becomes a category coded
by its level's index; XGBoost treats these codes as categories, not as ordered numbers. A level
never seen in training is coded as missing, so new data is scored, never refused, for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.errors import DataError
from aura_sentinel.schema import (
    FLOAT32_MAX,
    as_text,
    beyond_float32,
    number_fix,
    unusable_kind,
)

# Text columns with more distinct values than this are dropped as high-cardinality (free text,
# addresses, ...). 64 comfortably holds real categories such as states or plans.
MAX_LEVELS = 64
# A text column where more than this share of rows have their own value identifies customers
# (an id, an e-mail) rather than describing them, and is dropped.
ID_LIKE_SHARE = 0.5

Kind = Literal["number", "category"]


@dataclass(frozen=True)
class FeatureColumn:
    name: str
    kind: Kind
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class LevelCodes:
    """A text column coded by level: each row's index in `levels`, NaN for a blank cell or a
    level training never saw (as in the model matrix)."""

    levels: tuple[str, ...]
    codes: npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureSpec:
    """Ordered model inputs, category levels, and the columns left out with the reason why."""

    columns: tuple[FeatureColumn, ...]
    dropped: tuple[tuple[str, str], ...] = ()

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def xgboost_types(self) -> list[str]:
        """XGBoost's feature types: "q" for numbers, "c" for categories."""
        return ["c" if column.kind == "category" else "q" for column in self.columns]

    def matrix(
        self, frame: pl.DataFrame, source: str, first_row: int = 0
    ) -> npt.NDArray[np.float32]:
        """The contiguous float32 model matrix for `frame`, built by one Polars select.

        `first_row` is the frame's offset in its file, so that errors name the file's row.
        """
        present = set(frame.columns)
        missing = [name for name in self.names if name not in present]
        if missing:
            raise DataError(
                source,
                f"missing columns the model needs: {', '.join(missing)}",
                "score a table with the same columns as the training table",
            )
        self._check_types(frame, source)
        self._check_numbers(frame, source, first_row)
        encoded = frame.select(self._expression(frame, column) for column in self.columns)
        return np.ascontiguousarray(encoded.to_numpy(order="c"), dtype=np.float32)

    def level_codes(
        self, frame: pl.DataFrame, matrix: npt.NDArray[np.float32]
    ) -> dict[str, LevelCodes]:
        """The text category columns of `frame` as coded in its model matrix, by name."""
        schema = frame.schema  # built anew at each access: once, not once per column
        return {
            column.name: LevelCodes(column.levels, matrix[:, index])
            for index, column in enumerate(self.columns)
            if column.kind == "category" and schema[column.name] == pl.String
        }

    def unseen_levels(self, frame: pl.DataFrame, matrix: npt.NDArray[np.float32]) -> dict[str, int]:
        """How many rows of `frame` hold a category level that training never saw, per column.

        `matrix` is the frame's model matrix, where such a level is coded as missing: the
        unseen levels are the cells that are not blank in `frame` but missing in `matrix`.
        """
        missing = np.isnan(matrix).sum(axis=0)
        counts = {}
        for index, column in enumerate(self.columns):
            if column.kind == "category":
                given = frame.height - frame.get_column(column.name).null_count()
                unseen = given - (frame.height - int(missing[index]))
                if unseen:
                    counts[column.name] = unseen
        return counts

    def _expression(self, frame: pl.DataFrame, column: FeatureColumn) -> pl.Expr:
        if column.kind == "number":
            return pl.col(column.name).cast(pl.Float32, strict=False)
        # Category values as text, whatever type the file gave them (1.0 from a sheet -> "1").
        values = frame.get_column(column.name)
        text = pl.col(column.name) if values.dtype == pl.String else pl.lit(as_text(values))
        codes = list(range(len(column.levels)))
        return text.replace_strict(
            list(column.levels), codes, default=None, return_dtype=pl.Float32
        ).alias(column.name)

    def _check_types(self, frame: pl.DataFrame, source: str) -> None:
        """Refuse a column whose type gives no numbers (dates, lists) where the model reads
        numbers, or no text (lists, structs) where it reads categories: a date is never read
        as a number of days. A date in a category column is read as its text."""
        schema = frame.schema
        for column in self.columns:
            kind = unusable_kind(schema[column.name])
            if kind is None or (column.kind == "category" and schema[column.name].is_temporal()):
                continue
            if column.kind == "number":
                problem, fix = f"holds {kind}, not numbers", number_fix(column.name)
            else:
                problem, fix = f"holds {kind}, not categories", "give one text value per cell"
            raise DataError(source, f"column '{column.name}' {problem}", fix)

    def _check_numbers(self, frame: pl.DataFrame, source: str, first_row: int) -> None:
        """Refuse text that is not a number, or an infinite number or one beyond float32
        (what XGBoost reads), in a number column.

        NaN is accepted as a missing value, as XGBoost reads it; the first bad row is named.
        """
        for column in self.columns:
            if column.kind != "number":
                continue
            values = frame.get_column(column.name)
            numbers = values.cast(pl.Float64, strict=False)
            not_number = values.is_not_null() & numbers.is_null()
            bad = not_number | beyond_float32(numbers)
            if bad.any():
                row = int(bad.arg_max() or 0)
                raise DataError(
                    source,
                    f"column '{column.name}': {_number_problem(values[row])} "
                    f"(row {first_row + row + 1} after the header)",
                    "correct or blank that cell",
                )

    def to_json(self) -> dict[str, object]:
        return {
            "columns": [
                {"name": column.name, "kind": column.kind, "levels": list(column.levels)}
                for column in self.columns
            ],
            "dropped": [{"name": name, "reason": reason} for name, reason in self.dropped],
        }


def fit_feature_spec(features: pl.DataFrame, source: str) -> FeatureSpec:
    """Decide each column's role from the training data (typed by the schema step)."""
    columns: list[FeatureColumn] = []
    dropped: list[tuple[str, str]] = []
    for name in features.columns:
        column = features.get_column(name)
        present = column.drop_nulls()
        distinct = present.n_unique()
        if distinct == 0:
            dropped.append((name, "empty"))
        elif distinct == 1 and column.null_count() == 0:
            dropped.append((name, "the same value in every row"))
        elif column.dtype.is_numeric() and is_row_number(column):
            dropped.append((name, "row number"))
        elif column.dtype.is_numeric():
            columns.append(FeatureColumn(name, "number"))
        elif distinct > ID_LIKE_SHARE * present.len():
            dropped.append((name, f"identifier-like text ({distinct:,} distinct values)"))
        elif distinct > MAX_LEVELS:
            dropped.append((name, f"text with too many distinct values ({distinct:,})"))
        else:
            levels = tuple(sorted(str(level) for level in present.unique().to_list()))
            columns.append(FeatureColumn(name, "category", levels))
    if not columns:
        raise DataError(
            source,
            "no usable feature columns are left",
            "give a table with columns that describe customers",
        )
    return FeatureSpec(columns=tuple(columns), dropped=tuple(dropped))


def is_row_number(column: pl.Series) -> bool:
    """Whether a number column counts the rows in file order (1..N, 0..N-1, or any first whole
    number + 1 per row): it says where a customer sits in the file, not who they are."""
    if column.null_count():
        return False
    values = column.cast(pl.Float64).to_numpy()
    return bool(
        values[0] == np.floor(values[0])
        and np.array_equal(values, values[0] + np.arange(values.size, dtype=np.float64))
    )


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _number_problem(value: object) -> str:
    """How a cell fails as a number: text, an infinite value, or another kind of value."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return f"text '{value}' in a number column"
    if isinstance(value, float) and math.isinf(value):
        return f"infinite value {value} in a number column"
    if isinstance(value, (int, float)) and abs(value) > FLOAT32_MAX:
        return f"value {value} is too large for the model (beyond ±3.4e38)"
    return f"value '{value}' is not a number"

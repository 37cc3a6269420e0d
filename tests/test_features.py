"""The feature spec: fitted once, saved, applied to new data with unseen levels."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from aura_sentinel.errors import DataError
from aura_sentinel.features import fit_feature_spec


def _features(rows: int = 100) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    return pl.DataFrame(
        {
            "tenure": rng.integers(0, 72, rows).astype(float),
            "Contract": rng.choice(["Month-to-month", "One year", "Two year"], rows),
            "email": [f"person{index}@example.com" for index in range(rows)],
            "country": ["NL"] * rows,
        }
    )


def test_numbers_stay_numbers_and_text_becomes_categories() -> None:
    spec = fit_feature_spec(_features(), "t.csv")
    kinds = {column.name: column.kind for column in spec.columns}
    assert kinds == {"tenure": "number", "Contract": "category"}
    assert spec.xgboost_types == ["q", "c"]


def test_identifier_like_and_constant_columns_are_dropped_with_a_reason() -> None:
    spec = fit_feature_spec(_features(), "t.csv")
    reasons = dict(spec.dropped)
    assert "identifier-like" in reasons["email"]
    assert "same value" in reasons["country"]


def test_high_cardinality_text_is_dropped() -> None:
    levels = [f"plan {index % 80}" for index in range(400)]
    spec = fit_feature_spec(pl.DataFrame({"plan": levels, "x": [1.0, 2.0] * 200}), "t.csv")
    assert "too many distinct values" in dict(spec.dropped)["plan"]


def test_matrix_is_contiguous_float32_with_category_codes() -> None:
    frame = _features()
    spec = fit_feature_spec(frame, "t.csv")
    matrix = spec.matrix(frame, "t.csv")
    assert matrix.dtype == np.float32
    assert matrix.flags["C_CONTIGUOUS"]
    assert matrix.shape == (100, 2)
    contract_levels = spec.columns[1].levels
    expected = [contract_levels.index(value) for value in frame["Contract"]]
    assert matrix[:, 1].tolist() == expected


def test_unseen_level_is_scored_as_missing_and_counted() -> None:
    spec = fit_feature_spec(_features(), "t.csv")
    new = pl.DataFrame({"tenure": [3.0, 4.0], "Contract": ["Three year", "One year"]})
    matrix = spec.matrix(new, "new.csv")
    assert np.isnan(matrix[0, 1])
    assert matrix[1, 1] == spec.columns[1].levels.index("One year")
    assert spec.unseen_levels(new, matrix) == {"Contract": 1}


def test_numbers_read_as_text_are_accepted_when_scoring() -> None:
    spec = fit_feature_spec(_features(), "t.csv")
    new = pl.DataFrame({"tenure": ["3", None], "Contract": ["One year", "Two year"]})
    matrix = spec.matrix(new, "new.csv")
    assert matrix[0, 0] == 3.0
    assert np.isnan(matrix[1, 0])


def test_missing_columns_are_all_named() -> None:
    spec = fit_feature_spec(_features(), "t.csv")
    with pytest.raises(DataError, match="missing columns the model needs: tenure, Contract"):
        spec.matrix(pl.DataFrame({"other": [1]}), "new.csv")


def test_text_in_a_number_column_is_refused_when_scoring() -> None:
    spec = fit_feature_spec(_features(), "t.csv")
    new = pl.DataFrame({"tenure": ["3", "many"], "Contract": ["One year", "Two year"]})
    with pytest.raises(DataError, match=r"column 'tenure': text 'many'.*row 2"):
        spec.matrix(new, "new.csv")

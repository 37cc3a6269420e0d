"""A number column that counts the rows in file order (a row number) is not a feature, and scoring
new customers does not ask for it; an integer id in any other order stays a feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from aura_sentinel.demo import generate_customers
from aura_sentinel.features import fit_feature_spec, is_row_number
from aura_sentinel.pipeline import ScoreSettings, score_file
from aura_sentinel.retention.config import PolicySettings
from aura_sentinel.training import TrainOptions, train

ROWS = 50


@pytest.mark.parametrize(
    "values",
    [
        list(range(1, ROWS + 1)),
        list(range(ROWS)),
        list(range(1001, 1001 + ROWS)),
        [float(value) for value in range(1, ROWS + 1)],
    ],
    ids=["1..N", "0..N-1", "from 1001", "whole floats"],
)
def test_a_column_counting_the_rows_is_dropped_as_a_row_number(values: list[float]) -> None:
    frame = pl.DataFrame({"RowNumber": values, "usage": np.arange(ROWS) % 7})
    spec = fit_feature_spec(frame, "t.csv")
    assert spec.names == ["usage"]
    assert spec.dropped == (("RowNumber", "row number"),)


@pytest.mark.parametrize(
    "values",
    [
        list(np.random.default_rng(1).permutation(np.arange(1, ROWS + 1))),
        list(range(ROWS, 0, -1)),
        [*range(1, ROWS), ROWS + 1],
        list(range(0, 2 * ROWS, 2)),
        [value + 0.5 for value in range(ROWS)],
        [None, *range(2, ROWS + 1)],
    ],
    ids=["shuffled id", "counting down", "a gap", "step 2", "halves", "a blank"],
)
def test_an_integer_column_in_another_order_is_kept(values: list[float | None]) -> None:
    assert not is_row_number(pl.Series("CustomerId", values))
    frame = pl.DataFrame({"CustomerId": values, "usage": np.arange(ROWS) % 7})
    assert "CustomerId" in fit_feature_spec(frame, "t.csv").names


def test_scoring_needs_no_row_number_column(tmp_path: Path) -> None:
    from test_dqn import SMALL

    frame = generate_customers(400, seed=4)
    frame = frame.with_columns(pl.Series("RowNumber", np.arange(1, frame.height + 1)))
    data = tmp_path / "train.csv"
    frame.write_csv(data)
    options = TrainOptions(folds=2, policy_settings=PolicySettings(dqn=SMALL))
    summary = train(data, tmp_path / "models", options)
    assert summary.churn is not None
    assert ("RowNumber", "row number") in summary.churn.features_dropped
    new_customers = tmp_path / "new.csv"
    frame.drop("RowNumber", "Churn").head(50).write_csv(new_customers)
    out = tmp_path / "results.csv"
    score_file(new_customers, tmp_path / "models", out, ScoreSettings())
    assert pl.read_csv(out).height == 50

"""The Python API: score a DataFrame in memory, as `aura-sentinel score` scores a file.

`score` is re-exported as `aura_sentinel.score`. It runs the same code as the command line
(`pipeline.scored`, and `pipeline.budget_plan` for a budget) on slices of the frame, so a table
gives the same results either way; it writes no file.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

import polars as pl

from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.io import tidy
from aura_sentinel.pipeline import (
    DEFAULT_BATCH_ROWS,
    ScoreSettings,
    ScoringModel,
    budget_plan,
    check_choices,
    scored,
)
from aura_sentinel.shipped import shipped_models

Frame = TypeVar("Frame")
SOURCE = "customers frame"
"""How error messages name the frame given to `score`."""


def score(
    customers: Frame,
    models: Path | str | None = None,
    *,
    budget: float | None = None,
    high: float = 0.7,
    medium: float = 0.4,
    explain: bool = True,
    threads: int | None = None,
) -> Frame:
    """Score every customer: churn risk, top drivers and the recommended retention action.

    Args:
        customers: a Polars or pandas DataFrame with the columns the bundle was trained on
            (its id column, its features; the state columns such as MonthlyCharges when present).
        models: a model bundle folder written by `aura-sentinel train`; default: the bundle
            shipped with aura-sentinel (not ./models, unlike the command line).
        budget: total spend allowed on actions; customers get the plan with the most expected
            gain within it. Default: no budget, each customer gets the policy's best action.
        high: HIGH risk above this churn probability.
        medium: MEDIUM risk above this churn probability (and not HIGH); LOW otherwise.
        explain: compute each customer's top churn drivers (TopDrivers; the costly part).
        threads: threads for XGBoost and torch, 1 to 256; default: the machine's cores, at
            most 8. The results are the same for any number.

    Returns:
        The results, one row per customer in input order, with the columns of the results file
        (CustomerID, ..., TopDrivers, the target column when the frame has it, and LoggedAction
        when a bundle with learned effects scores a campaign log) at full precision: a Polars
        DataFrame, or a pandas one when `customers` is pandas.

    Raises:
        DataError: the frame cannot be scored (a missing id column, text in a number column, ...).
        UsageError: `customers` is not a DataFrame, or a setting is out of range.
        BundleError: the bundle is missing, damaged or does not fit.
    """
    frame, as_pandas = _as_polars(customers)
    settings = ScoreSettings(high=high, medium=medium, explain=explain)
    if threads is not None:
        settings = replace(settings, threads=threads)
    check_choices(settings, budget)
    frame = tidy(frame, Path(SOURCE))
    if frame.height == 0:
        raise DataError(SOURCE, "has no customers", "give a frame with at least one row")
    bundle = Path(models) if models is not None else shipped_models()
    model = ScoringModel.load(bundle, settings.threads, settings.explain)
    plan = None
    if budget is not None:
        plan = budget_plan(frame.iter_slices(DEFAULT_BATCH_ROWS), model, SOURCE, budget)
    batches = scored(frame.iter_slices(DEFAULT_BATCH_ROWS), model, settings, SOURCE, plan)
    results = pl.concat([batch for batch, _ in batches])
    return cast(Frame, results.to_pandas() if as_pandas else results)


def _as_polars(customers: Any) -> tuple[pl.DataFrame, bool]:
    """The frame as Polars, and whether it came from pandas (pandas is not a dependency: a
    pandas frame can only exist when pandas has been imported)."""
    if isinstance(customers, pl.DataFrame):
        return customers, False
    pandas = sys.modules.get("pandas")
    if pandas is None or not isinstance(customers, pandas.DataFrame):
        raise UsageError(
            "customers",
            f"is a {type(customers).__name__}, not a DataFrame",
            "give a Polars or pandas DataFrame",
        )
    try:
        return pl.from_pandas(customers), True
    except Exception as error:  # pyarrow and Polars raise many types; all mean "cannot convert"
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DataError(
            SOURCE,
            f"cannot be converted from pandas: {problem}",
            "give columns of numbers, text, dates or categories (no mixed Python objects)",
        ) from error

"""The leakage guard names columns that give the outcome away."""

from __future__ import annotations

import polars as pl

from aura_sentinel.features import fit_feature_spec
from aura_sentinel.leakage import leaking_features
from aura_sentinel.schema import ColumnRoles, prepare_training_table


def test_a_churn_reason_column_is_reported_and_honest_columns_are_not(
    customers: pl.DataFrame,
) -> None:
    churned = customers.get_column("Churn") == "Yes"
    frame = customers.with_columns(
        pl.when(churned).then(pl.lit("Competitor offer")).otherwise(None).alias("Churn Reason"),
        pl.when(churned).then(1.0).otherwise(0.0).alias("Churn Value"),
    )
    table = prepare_training_table(frame, ColumnRoles(), "t.csv")
    spec = fit_feature_spec(table.features, "t.csv")
    leaks = leaking_features(spec.matrix(table.features, "t.csv"), spec, table.outcome)
    assert {name for name, _ in leaks} == {"Churn Reason", "Churn Value"}

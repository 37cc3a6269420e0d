"""Tests for the synthetic Telco customer generator."""

from __future__ import annotations

import re
from collections.abc import Set
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aura_sentinel.demo import generate_customers

REAL_TABLE = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "telco-customer-churn.csv"
)

TELCO_SCHEMA: dict[str, type[pl.DataType]] = {
    "customerID": pl.String,
    "gender": pl.String,
    "SeniorCitizen": pl.Int64,
    "Partner": pl.String,
    "Dependents": pl.String,
    "tenure": pl.Int64,
    "PhoneService": pl.String,
    "MultipleLines": pl.String,
    "InternetService": pl.String,
    "OnlineSecurity": pl.String,
    "OnlineBackup": pl.String,
    "DeviceProtection": pl.String,
    "TechSupport": pl.String,
    "StreamingTV": pl.String,
    "StreamingMovies": pl.String,
    "Contract": pl.String,
    "PaperlessBilling": pl.String,
    "PaymentMethod": pl.String,
    "MonthlyCharges": pl.Float64,
    "TotalCharges": pl.Float64,
    "Churn": pl.String,
}

YES_NO = frozenset({"Yes", "No"})
INTERNET_ADDON = frozenset({"Yes", "No", "No internet service"})
ALLOWED_VALUES: dict[str, Set[object]] = {
    "gender": {"Female", "Male"},
    "SeniorCitizen": {0, 1},
    "Partner": YES_NO,
    "Dependents": YES_NO,
    "PhoneService": YES_NO,
    "MultipleLines": {"Yes", "No", "No phone service"},
    "InternetService": {"DSL", "Fiber optic", "No"},
    "OnlineSecurity": INTERNET_ADDON,
    "OnlineBackup": INTERNET_ADDON,
    "DeviceProtection": INTERNET_ADDON,
    "TechSupport": INTERNET_ADDON,
    "StreamingTV": INTERNET_ADDON,
    "StreamingMovies": INTERNET_ADDON,
    "Contract": {"Month-to-month", "One year", "Two year"},
    "PaperlessBilling": YES_NO,
    "PaymentMethod": {
        "Electronic check",
        "Mailed check",
        "Bank transfer (automatic)",
        "Credit card (automatic)",
    },
    "Churn": YES_NO,
}
ADDONS = [name for name, allowed in ALLOWED_VALUES.items() if allowed == INTERNET_ADDON]


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    # Large enough to contain every category and a few brand-new (tenure 0) customers.
    return generate_customers(20_000, seed=3)


@pytest.fixture(scope="module")
def real() -> pl.DataFrame:
    if not REAL_TABLE.is_file():
        pytest.skip(f"real Telco table not found at {REAL_TABLE}")
    return pl.read_csv(REAL_TABLE, columns=["tenure", "MonthlyCharges", "Contract", "Churn"])


@pytest.fixture(scope="module")
def synthetic_like_real() -> pl.DataFrame:
    # Same size as the real table, default seed.
    return generate_customers(7043, seed=42)


def test_same_seed_gives_identical_frame() -> None:
    assert_frame_equal(generate_customers(500, seed=11), generate_customers(500, seed=11))


def test_different_seeds_give_different_frames() -> None:
    first, second = generate_customers(500, seed=11), generate_customers(500, seed=12)
    for column in ("customerID", "tenure", "MonthlyCharges"):
        assert not first[column].equals(second[column])


@pytest.mark.parametrize("rows", [0, -5])
def test_rows_below_one_raise_value_error(rows: int) -> None:
    with pytest.raises(ValueError, match="rows"):
        generate_customers(rows)


@pytest.mark.parametrize("rows", [1, 2, 1234])
def test_returns_the_requested_number_of_rows(rows: int) -> None:
    assert generate_customers(rows).height == rows


def test_columns_and_dtypes_are_exactly_the_telco_schema(customers: pl.DataFrame) -> None:
    assert customers.columns == list(TELCO_SCHEMA)
    for column, dtype in TELCO_SCHEMA.items():
        assert customers.schema[column] == dtype, column


def test_customer_ids_are_unique(customers: pl.DataFrame) -> None:
    assert customers["customerID"].n_unique() == customers.height


def test_customer_ids_look_like_telco_ids(customers: pl.DataFrame) -> None:
    pattern = re.compile(r"^\d{4}-[A-Z]{5}$")
    assert all(pattern.match(value) for value in customers["customerID"].to_list())


def test_total_charges_null_exactly_where_tenure_is_zero(customers: pl.DataFrame) -> None:
    new = customers["tenure"] == 0
    assert new.any(), "expected a few customers with tenure 0 in 20,000 rows"
    assert (customers["TotalCharges"].is_null() == new).all()


def test_category_values_are_within_the_telco_sets(customers: pl.DataFrame) -> None:
    for column, allowed in ALLOWED_VALUES.items():
        assert set(customers[column].unique().to_list()) == allowed, column


def test_tenure_is_within_0_to_72_months(customers: pl.DataFrame) -> None:
    assert customers["tenure"].min() == 0
    assert customers["tenure"].max() == 72


def test_monthly_charges_are_within_the_price_range(customers: pl.DataFrame) -> None:
    charges = pl.col("MonthlyCharges")
    assert customers["MonthlyCharges"].null_count() == 0
    assert _stat(customers, charges.min()) >= 15.0
    assert _stat(customers, charges.max()) <= 125.0
    assert _stat(customers, (charges.round(2) == charges).all())


def test_total_charges_follow_tenure_times_monthly_charges(customers: pl.DataFrame) -> None:
    billed = customers.filter(pl.col("tenure") > 0)
    ratio = pl.col("TotalCharges") / (pl.col("tenure") * pl.col("MonthlyCharges"))
    assert _stat(billed, ratio.min()) >= 0.6
    assert _stat(billed, ratio.max()) <= 1.6
    assert abs(_stat(billed, ratio.median()) - 1.0) < 0.01


def test_services_are_consistent_with_phone_and_internet(customers: pl.DataFrame) -> None:
    no_phone = customers["PhoneService"] == "No"
    no_internet = customers["InternetService"] == "No"
    assert ((customers["MultipleLines"] == "No phone service") == no_phone).all()
    for column in ADDONS:
        assert ((customers[column] == "No internet service") == no_internet).all(), column
    assert not (no_phone & no_internet).any()


def test_churn_rate_is_close_to_real(real: pl.DataFrame, synthetic_like_real: pl.DataFrame) -> None:
    churned = (pl.col("Churn") == "Yes").mean()
    assert abs(_stat(synthetic_like_real, churned) - _stat(real, churned)) <= 0.02


def test_mean_tenure_is_close_to_real(
    real: pl.DataFrame, synthetic_like_real: pl.DataFrame
) -> None:
    mean = pl.col("tenure").mean()
    assert abs(_stat(synthetic_like_real, mean) - _stat(real, mean)) <= 2.0


def test_tenure_distribution_is_close_to_real(
    real: pl.DataFrame, synthetic_like_real: pl.DataFrame
) -> None:
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        quantile = pl.col("tenure").quantile(q)
        assert abs(_stat(synthetic_like_real, quantile) - _stat(real, quantile)) <= 3.0, q


def test_mean_monthly_charges_are_close_to_real(
    real: pl.DataFrame, synthetic_like_real: pl.DataFrame
) -> None:
    mean = pl.col("MonthlyCharges").mean()
    assert abs(_stat(synthetic_like_real, mean) - _stat(real, mean)) <= 3.0


def test_monthly_charges_distribution_is_close_to_real(
    real: pl.DataFrame, synthetic_like_real: pl.DataFrame
) -> None:
    for q in (0.1, 0.25, 0.5, 0.75, 0.9):
        quantile = pl.col("MonthlyCharges").quantile(q)
        assert abs(_stat(synthetic_like_real, quantile) - _stat(real, quantile)) <= 4.0, q


def test_contract_mix_is_close_to_real(
    real: pl.DataFrame, synthetic_like_real: pl.DataFrame
) -> None:
    for contract in ("Month-to-month", "One year", "Two year"):
        share = pl.col("Contract").eq(contract).mean()
        assert abs(_stat(synthetic_like_real, share) - _stat(real, share)) <= 0.03, contract


def _stat(frame: pl.DataFrame, expr: pl.Expr) -> float:
    """Evaluate a scalar expression on a frame."""
    return float(frame.select(expr).item())

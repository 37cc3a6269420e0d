"""The customer state: nine meaningful numbers per customer, built column-wise from a table.

| column | meaning | from |
|---|---|---|
| churn_probability | chance of leaving within the churn horizon without action | the churn model |
| contract | 0 month-to-month, 1 one year, 2 two year | `Contract` (default 0) |
| internet_service | 0 none, 1 DSL, 2 fiber | `InternetService` (default 1) |
| tenure | months as a customer | `tenure` (default 12) |
| monthly_charges | monthly bill | `MonthlyCharges` (default 1: values in months of bill) |
| recent_interventions | retention contacts in recent months | `recent_interventions` (default 0) |
| days_since_contact | days since the last retention contact | `days_since_contact` (default 90) |
| response_rate | share of past offers the customer took up, 0-1 | `response_rate` (default prior) |
| engagement | share of the services the customer uses, 0-1 | `engagement`, else derived |

Nothing here is random: every number comes from the customer's data or a documented default.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.errors import DataError

STATE_COLUMNS = (
    "churn_probability",
    "contract",
    "internet_service",
    "tenure",
    "monthly_charges",
    "recent_interventions",
    "days_since_contact",
    "response_rate",
    "engagement",
)
(
    CHURN_PROBABILITY,
    CONTRACT,
    INTERNET,
    TENURE,
    MONTHLY_CHARGES,
    RECENT_INTERVENTIONS,
    DAYS_SINCE_CONTACT,
    RESPONSE_RATE,
    ENGAGEMENT,
) = range(len(STATE_COLUMNS))

StateMatrix = npt.NDArray[np.float32]

# Columns read from the customer table, and the default used when a table has no such column.
SOURCE_COLUMNS = {
    "contract": "Contract",
    "internet_service": "InternetService",
    "tenure": "tenure",
    "monthly_charges": "MonthlyCharges",
    "recent_interventions": "recent_interventions",
    "days_since_contact": "days_since_contact",
    "response_rate": "response_rate",
    "engagement": "engagement",
}
DEFAULT_TENURE = 12.0
DEFAULT_MONTHLY_CHARGES = 1.0
DEFAULT_DAYS_SINCE_CONTACT = 90.0
# Services whose "Yes" counts towards engagement when the table has no engagement column.
ENGAGEMENT_SERVICES = (
    "PhoneService",
    "MultipleLines",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)
DEFAULT_ENGAGEMENT = 0.5


def build_state(
    customers: pl.DataFrame, churn_probability: npt.ArrayLike, response_prior: float
) -> StateMatrix:
    """The N x 9 float32 state matrix, column by column with Polars expressions."""
    present = set(customers.columns)

    def number(role: str, default: float) -> pl.Expr:
        return _number(present, role, default)

    frame = customers.select(
        pl.Series("churn_probability", np.asarray(churn_probability, dtype=np.float64)),
        _contract(present),
        _internet(present),
        number("tenure", DEFAULT_TENURE).clip(0.0),
        number("monthly_charges", DEFAULT_MONTHLY_CHARGES).clip(0.0),
        number("recent_interventions", 0.0).clip(0.0),
        number("days_since_contact", DEFAULT_DAYS_SINCE_CONTACT).clip(0.0),
        number("response_rate", response_prior).clip(0.0, 1.0),
        _engagement(present),
    )
    return np.ascontiguousarray(frame.to_numpy(order="c"), dtype=np.float32)


def check_charges(customers: pl.DataFrame, source: str, first_row: int = 0) -> None:
    """Refuse a negative or infinite monthly charge: every cost and value is a multiple of it."""
    name = SOURCE_COLUMNS["monthly_charges"]
    if name not in customers.columns:
        return
    charge = customers.get_column(name).cast(pl.Float64, strict=False)
    bad = ((charge < 0) | charge.is_infinite()).fill_null(False)
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise DataError(
            source,
            f"column '{name}': charge {charge[row]} is not a real monthly charge "
            f"(row {first_row + row + 1} after the header)",
            "correct that charge, or blank it to use the default",
        )


def monthly_charges(customers: pl.DataFrame) -> npt.NDArray[np.float64]:
    """Each customer's monthly charge in full precision (the state matrix holds float32)."""
    if SOURCE_COLUMNS["monthly_charges"] not in customers.columns:
        return np.full(customers.height, DEFAULT_MONTHLY_CHARGES)
    charge = _number(set(customers.columns), "monthly_charges", DEFAULT_MONTHLY_CHARGES)
    return customers.select(charge.clip(0.0)).to_series().to_numpy().astype(np.float64)


def _number(present: set[str], role: str, default: float) -> pl.Expr:
    name = SOURCE_COLUMNS[role]
    if name not in present:
        return pl.lit(default, dtype=pl.Float64).alias(role)
    return pl.col(name).cast(pl.Float64, strict=False).fill_nan(None).fill_null(default).alias(role)


def _text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).str.to_lowercase()


def _contract(present: set[str]) -> pl.Expr:
    name = SOURCE_COLUMNS["contract"]
    if name not in present:
        return pl.lit(0.0).alias("contract")
    text = _text(name)
    return (
        pl.when(text.str.contains("two|2"))
        .then(2.0)
        .when(text.str.contains("one|1|year|annual"))
        .then(1.0)
        .otherwise(0.0)
        .alias("contract")
    )


def _internet(present: set[str]) -> pl.Expr:
    name = SOURCE_COLUMNS["internet_service"]
    if name not in present:
        return pl.lit(1.0).alias("internet_service")
    text = _text(name)
    return (
        pl.when(text.str.contains("fib"))
        .then(2.0)
        .when(text.is_in(["no", "none"]))
        .then(0.0)
        .otherwise(1.0)
        .alias("internet_service")
    )


def _engagement(present: set[str]) -> pl.Expr:
    name = SOURCE_COLUMNS["engagement"]
    if name in present:
        return (
            pl.col(name)
            .cast(pl.Float64, strict=False)
            .fill_null(DEFAULT_ENGAGEMENT)
            .clip(0.0, 1.0)
            .alias("engagement")
        )
    services = [service for service in ENGAGEMENT_SERVICES if service in present]
    internet = SOURCE_COLUMNS["internet_service"]
    used = [(_text(service) == "yes").fill_null(False).cast(pl.Float64) for service in services]
    if internet in present:
        used.append((~_text(internet).is_in(["no", "none"])).fill_null(False).cast(pl.Float64))
    if not used:
        return pl.lit(DEFAULT_ENGAGEMENT).alias("engagement")
    return (pl.sum_horizontal(used) / len(used)).alias("engagement")

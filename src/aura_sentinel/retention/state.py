"""The customer state: nine meaningful numbers per customer, built column-wise from a table.

| column | meaning | from |
|---|---|---|
| churn_probability | chance of leaving within the churn horizon without action | the churn model |
| contract | 0 month-to-month, 1 one year, 2 two year | `Contract` (default 0) |
| internet_service | 0 none, 1 DSL, 2 fiber | `InternetService` (default 1) |
| tenure | months as a customer, 0-1200 | `tenure` (default 12) |
| monthly_charges | monthly bill | `MonthlyCharges` (default 1: values in months of bill) |
| recent_interventions | retention contacts lately, 0-100 | `recent_interventions` (default 0) |
| days_since_contact | days since the last contact, 0-3650 | `days_since_contact` (default 90) |
| response_rate | share of past offers the customer took up, 0-1 | `response_rate` (default prior) |
| engagement | share of the services the customer uses, 0-1 | `engagement`, else derived |

Nothing here is random: every number comes from the customer's data or a documented default.
A blank or NaN cell takes the default. Numbers are clipped to the meaningful range above, so
that every state is finite in float32 (1e308 or infinity included): a tenure beyond a hundred
years, more than a hundred recent contacts or a contact more than ten years ago count as those
bounds (the simulator itself counts only a few contacts and a few months since the last one).
Monthly charges are not clipped: `check_state_columns` refuses a negative, infinite or huge one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.errors import DataError
from aura_sentinel.features import LevelCodes
from aura_sentinel.schema import beyond_float32, number_fix, unusable_kind

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
# The meaningful ranges of the state's numbers (see the table above).
MAX_TENURE_MONTHS = 1200.0
MAX_RECENT_INTERVENTIONS = 100.0
MAX_DAYS_SINCE_CONTACT = 3650.0


def build_state(
    customers: pl.DataFrame,
    churn_probability: npt.ArrayLike,
    response_prior: float,
    coded: Mapping[str, LevelCodes] | None = None,
) -> StateMatrix:
    """The N x 9 float32 state matrix, column by column with Polars expressions.

    `coded` holds text columns already coded by level (the churn model's matrix): their text
    rules are then applied to the few levels, not to every cell (same values, less work).
    """
    present = set(customers.columns)

    def number(role: str, default: float) -> pl.Expr:
        return _number(present, role, default)

    def by_rule(name: str, rule: Rule, default: float) -> pl.Expr:
        return _by_rule(customers, present, (coded or {}).get(name), name, rule, default)

    frame = customers.select(
        pl.Series("churn_probability", np.asarray(churn_probability, dtype=np.float64)),
        by_rule(SOURCE_COLUMNS["contract"], _contract, 0.0).alias("contract"),
        by_rule(SOURCE_COLUMNS["internet_service"], _internet, 1.0).alias("internet_service"),
        number("tenure", DEFAULT_TENURE).clip(0.0, MAX_TENURE_MONTHS),
        number("monthly_charges", DEFAULT_MONTHLY_CHARGES).clip(0.0),
        number("recent_interventions", 0.0).clip(0.0, MAX_RECENT_INTERVENTIONS),
        number("days_since_contact", DEFAULT_DAYS_SINCE_CONTACT).clip(0.0, MAX_DAYS_SINCE_CONTACT),
        number("response_rate", response_prior).clip(0.0, 1.0),
        _engagement(present, by_rule),
    )
    return np.ascontiguousarray(frame.to_numpy(order="c"), dtype=np.float32)


def check_state_columns(customers: pl.DataFrame, source: str, first_row: int = 0) -> None:
    """Refuse what the state cannot be built from: a state column of dates, lists or other
    values that are not numbers (or, for the text columns, not text), naming the column; and a
    negative, infinite or huge monthly charge (beyond float32), naming the row: every cost and
    value is a multiple of it."""
    schema = customers.schema
    number_columns = [SOURCE_COLUMNS[role] for role in _NUMBER_ROLES]
    for name in [*number_columns, *_TEXT_COLUMNS]:
        kind = unusable_kind(schema[name]) if name in schema else None
        if name in _TEXT_COLUMNS and kind is not None and schema[name].is_temporal():
            kind = None  # a date in a text column is read as its text
        if kind is not None:
            wanted, fix = (
                ("numbers", number_fix(name))
                if name in number_columns
                else ("text", "give one text value per cell")
            )
            raise DataError(source, f"column '{name}' holds {kind}, not {wanted}", fix)
    name = SOURCE_COLUMNS["monthly_charges"]
    if name not in schema:
        return
    charge = customers.get_column(name).cast(pl.Float64, strict=False)
    bad = (charge < 0).fill_null(False) | beyond_float32(charge)
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise DataError(
            source,
            f"column '{name}': charge {charge[row]} is not a real monthly charge "
            f"(row {first_row + row + 1} after the header)",
            "correct that charge, or blank it to use the default",
        )


_NUMBER_ROLES = STATE_COLUMNS[TENURE:]  # the state fields read from number columns
_TEXT_COLUMNS = (
    SOURCE_COLUMNS["contract"],
    SOURCE_COLUMNS["internet_service"],
    *ENGAGEMENT_SERVICES,
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


Rule = Callable[[pl.Expr], pl.Expr]  # a rule for text: an expression on a String column


def _by_rule(
    customers: pl.DataFrame,
    present: set[str],
    coded: LevelCodes | None,
    name: str,
    rule: Rule,
    default: float,
) -> pl.Expr:
    """The rule's value for every customer; `default` when the table has no such column."""
    if name not in present:
        return pl.lit(default, dtype=pl.Float64)
    text = customers.get_column(name)
    if coded is None or text.dtype != pl.String:
        return rule(pl.col(name).cast(pl.String)).cast(pl.Float64)
    # One value per level, plus one for a blank; then each customer's by its level's code.
    levels = pl.Series(name, [*coded.levels, None], dtype=pl.String)
    table = pl.select(rule(pl.lit(levels)).cast(pl.Float64)).to_series().to_numpy()
    index = np.where(np.isnan(coded.codes), len(coded.levels), coded.codes).astype(np.intp)
    values = table[index]
    unseen = np.isnan(coded.codes) & text.is_not_null().to_numpy()
    if unseen.any():  # a level the codes do not know: the rule reads its text
        values[unseen] = pl.select(rule(pl.lit(text.filter(unseen)))).to_series().to_numpy()
    return pl.lit(pl.Series(name, values, dtype=pl.Float64))


def _contract(text: pl.Expr) -> pl.Expr:
    lower = text.str.to_lowercase()
    return (
        pl.when(lower.str.contains("two|2"))
        .then(2.0)
        .when(lower.str.contains("one|1|year|annual"))
        .then(1.0)
        .otherwise(0.0)
    )


def _internet(text: pl.Expr) -> pl.Expr:
    lower = text.str.to_lowercase()
    return (
        pl.when(lower.str.contains("fib"))
        .then(2.0)
        .when(lower.is_in(["no", "none"]))
        .then(0.0)
        .otherwise(1.0)
    )


def _uses_service(text: pl.Expr) -> pl.Expr:
    return (text.str.to_lowercase() == "yes").fill_null(False)


def _has_internet(text: pl.Expr) -> pl.Expr:
    return (~text.str.to_lowercase().is_in(["no", "none"])).fill_null(False)


def _engagement(present: set[str], by_rule: Callable[[str, Rule, float], pl.Expr]) -> pl.Expr:
    name = SOURCE_COLUMNS["engagement"]
    if name in present:
        return (
            pl.col(name)
            .cast(pl.Float64, strict=False)
            .fill_nan(None)
            .fill_null(DEFAULT_ENGAGEMENT)
            .clip(0.0, 1.0)
            .alias("engagement")
        )
    used = [
        by_rule(service, _uses_service, 0.0)
        for service in ENGAGEMENT_SERVICES
        if service in present
    ]
    internet = SOURCE_COLUMNS["internet_service"]
    if internet in present:
        used.append(by_rule(internet, _has_internet, 0.0))
    if not used:
        return pl.lit(DEFAULT_ENGAGEMENT).alias("engagement")
    return (pl.sum_horizontal(used) / len(used)).alias("engagement")

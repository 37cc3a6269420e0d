"""Synthetic customers in the schema of the IBM Telco churn table.

`generate_customers` draws a population from a small generative model: demographics, then tenure,
then the services, contract and billing choices that depend on them, then the bill those services
add up to, and finally churn from a logistic model on the whole profile. Every parameter below is
a fact about the population (a share, a log-odds effect, a price), not a row of any real table.

Effects are on the log-odds scale, over these customer features (0/1 unless noted):
``senior``, ``partner``, ``dependents``, ``t`` (tenure as a share of the 72-month window, 0..1),
``at_cap`` (tenure at the 72-month cap), ``fiber`` and ``no_internet`` (DSL is the reference),
``one_year`` and ``two_year`` (month-to-month is the reference), ``paperless``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from numpy.typing import NDArray

__all__ = ["generate_customers"]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
Features = dict[str, FloatArray]
Effects = dict[str, float]

MAX_TENURE = 72  # the table censors tenure at six years

INTERNET = ("DSL", "Fiber optic", "No")
CONTRACTS = ("Month-to-month", "One year", "Two year")
PAYMENTS = (
    "Bank transfer (automatic)",
    "Credit card (automatic)",
    "Electronic check",
    "Mailed check",
)
ADDONS = (
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)

# List prices per month (USD); a bill is the sum of its services plus a small personal deviation.
PRICE_PHONE = 20.0
PRICE_EXTRA_LINES = 5.0
PRICE_INTERNET = {"DSL": 25.0, "Fiber optic": 50.0, "No": 0.0}
PRICE_ADDON = {
    "OnlineSecurity": 5.0,
    "OnlineBackup": 5.0,
    "DeviceProtection": 5.0,
    "TechSupport": 5.0,
    "StreamingTV": 10.0,
    "StreamingMovies": 10.0,
}

# Add-ons, population-averaged effects, only for internet customers. Two hidden tastes make
# add-ons cluster: caring about protection (security, tech support, a little backup and device
# protection) and about media (the streaming pair, some device protection and backup).
ADDON_EFFECTS: dict[str, Effects] = {
    "OnlineSecurity": {"const": -1.2, "fiber": -0.9, "t": 1.7, "one_year": 0.6, "two_year": 1.05,
                       "senior": -0.35},
    "OnlineBackup": {"const": -1.5, "t": 2.55, "one_year": 0.15, "two_year": 0.25},
    "DeviceProtection": {"const": -1.55, "fiber": 0.2, "t": 1.75, "one_year": 0.7,
                         "two_year": 1.25, "senior": 0.05},
    "TechSupport": {"const": -1.15, "fiber": -0.7, "t": 1.05, "one_year": 0.9, "two_year": 1.9,
                    "senior": -0.5},
    "StreamingTV": {"const": -1.45, "fiber": 0.9, "t": 1.4, "one_year": 0.5, "two_year": 0.9,
                    "senior": 0.1},
    "StreamingMovies": {"const": -1.45, "fiber": 0.85, "t": 1.45, "one_year": 0.55,
                        "two_year": 0.9, "senior": 0.2},
}  # fmt: skip
ADDON_TASTES = {  # loadings on the (protection, media) tastes, each a standard normal
    "OnlineSecurity": (0.9, 0.0),
    "OnlineBackup": (0.4, 0.3),
    "DeviceProtection": (0.3, 0.6),
    "TechSupport": (0.9, 0.0),
    "StreamingTV": (0.0, 1.4),
    "StreamingMovies": (0.0, 1.4),
}

# Churn within the last month. MonthlyCharges enters per $10, so a service's total effect is its
# own term plus its price; e.g. fiber: +0.27 on top of +0.68 for its $25 premium over DSL.
CHURN_EFFECTS: Effects = {
    "const": 0.25,
    "senior": 0.23,
    "dependents": -0.12,
    "log_tenure": -0.73,  # log(1 + months): the first months are by far the riskiest
    "at_cap": -1.15,  # customers from before the window rarely leave
    "one_year": -0.7,
    "two_year": -1.5,
    "monthly_10": 0.27,  # price sensitivity
    "fiber": 0.27,  # fiber customers are the least satisfied, beyond what they pay
    "no_internet": -0.13,
    "phone": -1.09,  # a bundled phone line makes leaving harder (net -0.55 with its price)
    "multiple_lines": 0.24,
    "OnlineSecurity": -0.45,
    "OnlineBackup": -0.26,
    "TechSupport": -0.42,
    "paperless": 0.36,
    "pay_card": -0.09,  # payment effects against bank transfer
    "pay_echeck": 0.26,  # manual electronic checks: nothing ties the customer in
    "pay_mailed": -0.13,
}


def _score(x: Features, effects: Effects) -> FloatArray:
    """Linear predictor: the constant plus each effect times its feature."""
    rows = next(iter(x.values())).shape[0]
    out = np.full(rows, effects.get("const", 0.0))
    for name, beta in effects.items():
        if name != "const":
            out += beta * x[name]
    return out


def _bernoulli(rng: np.random.Generator, logit: FloatArray) -> BoolArray:
    drawn: BoolArray = rng.random(logit.shape[0]) < 1.0 / (1.0 + np.exp(-logit))
    return drawn


def _draw(rng: np.random.Generator, weights: list[FloatArray]) -> IntArray:
    """One class index per row, given each class's unnormalised weight per row."""
    cum = np.cumsum(np.stack(weights), axis=0)  # classes on the first axis: rows stay contiguous
    u = rng.random(cum.shape[1]) * cum[-1]
    index = np.zeros(cum.shape[1], dtype=np.int64)
    for threshold in cum[:-1]:
        index += u >= threshold
    return index


def _multinomial(rng: np.random.Generator, x: Features, classes: list[Effects]) -> IntArray:
    """One class per row from a multinomial logit; the first class is the reference."""
    logits = [np.zeros(x["t"].shape[0]), *(_score(x, e) for e in classes[1:])]
    top = np.maximum.reduce(logits)
    return _draw(rng, [np.exp(z - top) for z in logits])


def _as_float(flags: BoolArray) -> FloatArray:
    return flags.astype(np.float64)


def _customer_ids(rng: np.random.Generator, rows: int) -> pl.Series:
    """Unique ids like ``1234-ABCDE``: four digits, a dash, five capital letters."""
    letters = 26**5
    space = 10_000 * letters
    if rows > space:
        raise ValueError(f"rows must be at most {space}, got {rows}")
    codes = rng.choice(space, size=rows, replace=False, shuffle=False)
    number, word = codes // letters, codes % letters
    # Write the ASCII bytes one position (not one row) at a time, then view them as strings.
    chars = np.empty((rows, 10), dtype=np.uint8)
    for pos in range(3, -1, -1):
        chars[:, pos] = ord("0") + number % 10
        number //= 10
    chars[:, 4] = ord("-")
    for pos in range(9, 4, -1):
        chars[:, pos] = ord("A") + word % 26
        word //= 26
    ids: pl.Series = pl.Series("customerID", chars.view("S10").ravel()).cast(pl.String)
    return ids


def _demographics(rng: np.random.Generator, rows: int) -> Features:
    x: Features = {
        "male": _as_float(rng.random(rows) < 0.505),
        "senior": _as_float(rng.random(rows) < 0.162),
        "partner": _as_float(rng.random(rows) < 0.483),
    }
    # Children live mostly with couples, rarely with retirees.
    x["dependents"] = _as_float(
        _bernoulli(rng, _score(x, {"const": -2.0, "partner": 2.4, "senior": -2.1}))
    )
    return x


def _tenure(rng: np.random.Generator, partner: FloatArray) -> IntArray:
    """Months with the company, from a mixture of four kinds of customer.

    Trialists are in their first month or two; settled customers spread over the whole window,
    thinning slowly; a third group depends on the household: singles who move on within a year
    or two, couples who stay and pile up towards the cap; legacy customers joined before the
    window opened and sit at the 72-month cap (or just below it).
    """
    rows = partner.shape[0]
    couple = partner > 0
    # Shares of (trialist, settled, household-specific, legacy) for couples and for singles.
    shares = zip((0.02, 0.635, 0.25, 0.095), (0.125, 0.63, 0.235, 0.01), strict=True)
    kind = _draw(rng, [np.where(couple, a, b) for a, b in shares])
    # Monthly decay of the two spread-out groups (negative: more customers at long tenure).
    decay = np.where(kind == 1, 0.01, np.where(couple, -0.07, 0.125))
    # Truncated exponential on [0.5, 72.5] by inverse CDF, rounded to whole months.
    lo, hi = 0.5, MAX_TENURE + 0.5
    spread = lo - np.log1p(rng.random(rows) * np.expm1(-decay * (hi - lo))) / decay
    trialist = rng.geometric(0.8, rows)
    legacy = MAX_TENURE + 1 - rng.geometric(0.7, rows)
    months = np.select([kind == 0, kind == 3], [trialist, legacy], np.rint(spread))
    tenure: IntArray = np.clip(months, 1, MAX_TENURE).astype(np.int64)
    # About 0.15% signed up this month and have not been billed yet.
    tenure[rng.random(rows) < 0.0015] = 0
    return tenure


def _lines(rng: np.random.Generator, x: Features) -> tuple[IntArray, BoolArray, BoolArray]:
    """Internet type (index into INTERNET), phone service and multiple lines."""
    internet = _multinomial(
        rng,
        x,
        [
            {},  # DSL
            {"const": 0.1, "senior": 1.0, "partner": 0.2, "dependents": -0.55},  # fiber
            {"const": -0.45, "senior": -1.1, "partner": -0.2, "dependents": 0.4},  # none
        ],
    )
    # Everyone has phone or internet; only DSL customers go without a phone line (about 28%).
    dsl_phone = _bernoulli(rng, _score(x, {"const": 1.0, "senior": -0.6}))
    phone = np.where(internet == 0, dsl_phone, True)
    x["fiber"] = _as_float(internet == 1)
    x["no_internet"] = _as_float(internet == 2)
    extra = {"const": -1.65, "t": 2.5, "fiber": 1.05, "no_internet": -0.85, "senior": 0.4}
    multiple = phone & _bernoulli(rng, _score(x, extra))
    return internet, phone, multiple


def _contract(rng: np.random.Generator, x: Features) -> IntArray:
    """Index into CONTRACTS: long contracts come with long tenure."""
    # Customers at the cap have been with the company longer than the window shows: almost all
    # of them are on two-year contracts.
    return _multinomial(
        rng,
        x,
        [
            {},  # month-to-month
            {"const": -2.9, "t": 5.5, "at_cap": 0.7, "fiber": -1.25, "no_internet": 1.1,
             "senior": -0.65, "dependents": 0.5},
            {"const": -5.45, "t": 8.9, "at_cap": 3.2, "fiber": -2.0, "no_internet": 2.2,
             "senior": -1.2, "dependents": 0.8},
        ],
    )  # fmt: skip


def _addons(rng: np.random.Generator, x: Features) -> dict[str, BoolArray]:
    """The six internet add-ons; only internet customers can take them."""
    rows = x["t"].shape[0]
    protection = rng.standard_normal(rows)
    media = rng.standard_normal(rows)
    has_internet = x["no_internet"] == 0
    out: dict[str, BoolArray] = {}
    for name in ADDONS:
        l_prot, l_media = ADDON_TASTES[name]
        # A hidden taste flattens the population-averaged curve: conditional on the taste, the
        # effects are stronger by about sqrt(1 + 0.35 * variance) (logistic-normal approximation).
        sharpen = np.sqrt(1.0 + 0.35 * (l_prot**2 + l_media**2))
        logit = sharpen * _score(x, ADDON_EFFECTS[name]) + l_prot * protection + l_media * media
        out[name] = has_internet & _bernoulli(rng, logit)
    return out


def _billing(rng: np.random.Generator, x: Features) -> tuple[BoolArray, IntArray]:
    """Paperless billing, and the payment method (index into PAYMENTS)."""
    paperless = _bernoulli(
        rng,
        _score(x, {"const": 0.2, "fiber": 0.85, "no_internet": -0.95, "senior": 0.4,
                   "one_year": -0.5, "two_year": -0.75, "t": 0.6}),
    )  # fmt: skip
    x["paperless"] = _as_float(paperless)
    # Checks are for newer, month-to-month customers; long-standing ones pay automatically.
    payment = _multinomial(
        rng,
        x,
        [
            {},  # bank transfer
            {"const": 0.05, "one_year": 0.2, "two_year": 0.25, "t": -0.3, "fiber": -0.1},
            {"const": 1.05, "one_year": -0.5, "two_year": -1.1, "paperless": 0.3, "t": -1.6,
             "senior": 0.25, "no_internet": -0.9, "fiber": 0.6},  # electronic check
            {"const": 1.5, "one_year": 0.15, "two_year": 0.45, "paperless": -0.25, "t": -3.15,
             "senior": -0.5, "no_internet": 0.55, "fiber": -0.8},  # mailed check
        ],
    )  # fmt: skip
    return paperless, payment


def _charges(
    rng: np.random.Generator,
    tenure: IntArray,
    internet: IntArray,
    phone: BoolArray,
    multiple: BoolArray,
    addons: dict[str, BoolArray],
) -> tuple[FloatArray, FloatArray]:
    """Monthly bill from the list prices, and the total billed so far (NaN for tenure 0)."""
    monthly = (
        PRICE_PHONE * phone
        + PRICE_EXTRA_LINES * multiple
        + np.array([PRICE_INTERNET[kind] for kind in INTERNET])[internet]
        + sum(PRICE_ADDON[name] * addons[name] for name in ADDONS)
    )
    # Discounts, fees and taxes move a bill by about a dollar either way.
    deviation = np.clip(rng.normal(0.0, 1.0, monthly.shape[0]), -3.0, 3.0)
    monthly = np.round(monthly + deviation, 2)
    # Past bills differed from today's: each month after the first deviates by ~20%
    # independently, so the relative drift of the total shrinks like sqrt(months - 1) / months.
    months = tenure.astype(np.float64)
    spread = 0.2 * np.sqrt(np.maximum(months - 1.0, 0.0)) / np.maximum(months, 1.0)
    drift = np.clip(rng.standard_normal(months.shape[0]) * spread, -0.3, 0.5)
    total = np.round(months * monthly * (1.0 + drift), 2)
    return monthly, np.where(tenure == 0, np.nan, total)


def _yes_no(name: str, flags: BoolArray) -> pl.Series:
    return _labels(name, ("No", "Yes"), flags.astype(np.int64))


def _labels(name: str, labels: tuple[str, ...], codes: IntArray) -> pl.Series:
    return pl.Series(name, labels, dtype=pl.String).gather(codes)


MAX_DEMO_ROWS = 20_000_000
"""The most rows one call makes (generating takes about 0.7 GB of memory per million rows)."""


def generate_customers(rows: int, seed: int = 42) -> pl.DataFrame:
    """Return `rows` synthetic customers in the exact schema of the IBM Telco churn table.

    Deterministic for a given (rows, seed); raises ValueError if rows < 1.
    """
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(seed)

    ids = _customer_ids(rng, rows)
    x = _demographics(rng, rows)
    tenure = _tenure(rng, x["partner"])
    x["t"] = tenure / MAX_TENURE
    x["at_cap"] = _as_float(tenure == MAX_TENURE)
    x["log_tenure"] = np.log1p(tenure)
    internet, phone, multiple = _lines(rng, x)
    contract = _contract(rng, x)
    x["one_year"] = _as_float(contract == 1)
    x["two_year"] = _as_float(contract == 2)
    addons = _addons(rng, x)
    paperless, payment = _billing(rng, x)
    monthly, total = _charges(rng, tenure, internet, phone, multiple, addons)

    x["monthly_10"] = monthly / 10.0
    x["phone"] = _as_float(phone)
    x["multiple_lines"] = _as_float(multiple)
    for name in ADDONS:
        x[name] = _as_float(addons[name])
    for code, name in enumerate(("pay_card", "pay_echeck", "pay_mailed"), start=1):
        x[name] = _as_float(payment == code)
    # Someone who signed up this month cannot have left yet.
    churn = (tenure > 0) & _bernoulli(rng, _score(x, CHURN_EFFECTS))

    no_internet = internet == 2
    with_na = ("No", "Yes", "No internet service")
    return pl.DataFrame(
        [
            ids,
            _labels("gender", ("Female", "Male"), x["male"].astype(np.int64)),
            pl.Series("SeniorCitizen", x["senior"].astype(np.int64), dtype=pl.Int64),
            _yes_no("Partner", x["partner"] > 0),
            _yes_no("Dependents", x["dependents"] > 0),
            pl.Series("tenure", tenure, dtype=pl.Int64),
            _yes_no("PhoneService", phone),
            _labels(
                "MultipleLines",
                ("No", "Yes", "No phone service"),
                np.where(phone, multiple.astype(np.int64), 2),
            ),
            _labels("InternetService", INTERNET, internet),
            *(
                _labels(name, with_na, np.where(no_internet, 2, addons[name].astype(np.int64)))
                for name in ADDONS
            ),
            _labels("Contract", CONTRACTS, contract),
            _yes_no("PaperlessBilling", paperless),
            _labels("PaymentMethod", PAYMENTS, payment),
            pl.Series("MonthlyCharges", monthly, dtype=pl.Float64),
            pl.Series("TotalCharges", total, dtype=pl.Float64, nan_to_null=True),
            _yes_no("Churn", churn),
        ]
    )

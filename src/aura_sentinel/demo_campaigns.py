"""A synthetic campaign log whose actions have known, heterogeneous effects.

The customers are `generate_customers(rows, seed)`: the same population as `demo-data`. Their
churn probability p(x), from the demo's logistic model, is read as the chance of leaving within
`CHURN_HORIZON_MONTHS` without action, as the retention simulator reads it; the monthly hazard is
h = 1 - (1 - p) ** (1 / 12). Each row then gets one of the six default actions, drawn by a known
targeting rule whose probability is logged, and an outcome over one month (`LOG_HORIZON_MONTHS`):
the customer leaves with probability h x (1 - e_a(x)), where e_a(x) is the share of the monthly
hazard that action a removes for this customer (negative: the action backfires).

The true effects (`true_effects`), for action a = 1..5 (action 0 is doing nothing, e_0 = 0):

- two-year contract: nothing helps, e = 0; a personal call backfires, e = `CALL_BACKFIRE`
  (it reminds a settled customer that the contract will end);
- otherwise, tenure above `LONG_TENURE_MONTHS` (4 years): an email or an SMS backfires,
  e = `MESSAGE_BACKFIRE` (loyal customers resent marketing);
- otherwise e = `BASE_EFFECT[a]` x `CONTRACT_FACTOR[contract]` x new-customer factor
  (`NEW_CUSTOMER_FLOOR` + `NEW_CUSTOMER_BOOST` x exp(-tenure / `NEW_CUSTOMER_MONTHS`))
  x, for the discounts and the call, `PRICE_FACTOR[internet]`;

and every e is clipped to [`MIN_EFFECT`, `MAX_EFFECT`]. So the variation of each action's effect
comes from three features: contract, tenure and internet service.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.demo import CHURN_EFFECTS, CONTRACTS, INTERNET, MAX_TENURE, generate_customers
from aura_sentinel.retention.catalog import DEFAULT_ACTIONS

__all__ = [
    "ACTION_NAMES",
    "LOG_HORIZON_MONTHS",
    "assignment_probabilities",
    "baseline_churn_probability",
    "generate_campaign_log",
    "true_churn",
    "true_effects",
    "truth_path",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LOG_HORIZON_MONTHS = 1
"""The log's outcome is whether the customer left within the month after the action."""
CHURN_HORIZON_MONTHS = 12
"""The demo's churn probability is read as the chance of leaving within a year without action."""

ACTION_NAMES = tuple(action.name for action in DEFAULT_ACTIONS)
"""The logged actions, by action id: "No action", "Send email", ..., the personal call."""

# The true effects: shares of the monthly hazard removed (see the module docstring).
BASE_EFFECT = (0.0, 0.2, 0.3, 0.4, 0.55, 0.75)
"""By action id, before the contract, new-customer and price factors: email least, SMS a bit
more, the discounts more, the personal call most. Strong on purpose: over one month the churn
rate is only about 3%, and a learner must see the effects on 50,000 rows (the discounts and the
call move the monthly churn rate by 1.4 to 2.2 points on average, email and SMS by under one)."""
CONTRACT_FACTOR = (1.0, 0.5, 0.0)
"""By contract (month-to-month, one year, two year): nothing helps two-year customers."""
NEW_CUSTOMER_FLOOR = 0.4
NEW_CUSTOMER_BOOST = 1.0
NEW_CUSTOMER_MONTHS = 12.0
"""New-customer factor 0.4 + exp(-tenure / 12): 1.4 in the first month, 0.77 at one year,
0.54 at two years."""
PRICE_FACTOR = (1.0, 1.3, 0.5)
"""By internet service (DSL, fiber optic, none), for the actions with a discount: fiber
customers care most about the price, customers without internet least."""
LONG_TENURE_MONTHS = 48
MESSAGE_BACKFIRE = -0.4
"""Email and SMS to customers of more than 4 years (not on two-year contracts) raise the
hazard by 40%."""
CALL_BACKFIRE = -0.5
"""A personal call to a two-year customer raises the hazard by 50%."""
MIN_EFFECT, MAX_EFFECT = -0.5, 0.9

_EMAIL, _SMS, _CALL = 1, 2, 5
_TWO_YEAR = 2

# The logging policy: a known targeting rule. Each action's logit is linear in the customer's
# 12-month churn risk, month-to-month flag and monthly charge (per $100); the probabilities are
# then mixed with the uniform so that every action keeps at least `MIN_PROPENSITY`.
TARGETING_LOGITS = (
    # (constant, risk, month-to-month, monthly charge / 100) by action id
    (0.0, 0.0, 0.0, 0.0),  # no action
    (0.3, 0.0, 0.0, 0.0),  # email: broadly used
    (0.0, 0.5, 0.0, 0.0),  # SMS
    (-1.0, 2.0, 0.5, 0.0),  # 10% discount: riskier month-to-month customers
    (-1.5, 3.0, 0.5, 0.0),  # 20% discount: more so
    (-2.5, 3.0, 0.0, 1.5),  # personal call: risky customers who pay a lot
)
MIN_PROPENSITY = 0.05
"""Overlap: every action has at least this probability for every customer."""

_CAMPAIGN_STREAM = 17
"""The log's random stream (actions, outcomes) is seeded by (seed, this), apart from the
customers' own."""


def baseline_churn_probability(customers: pl.DataFrame) -> FloatArray:
    """Each demo customer's churn probability within `CHURN_HORIZON_MONTHS` without action: the
    demo's logistic model (`CHURN_EFFECTS`) on the customer's columns."""

    def yes(column: str) -> FloatArray:
        return _flag(customers, column, "Yes")

    tenure = customers.get_column("tenure").to_numpy().astype(np.float64)
    features = {
        "senior": customers.get_column("SeniorCitizen").to_numpy().astype(np.float64),
        "dependents": yes("Dependents"),
        "log_tenure": np.log1p(tenure),
        "at_cap": (tenure == MAX_TENURE).astype(np.float64),
        "one_year": _flag(customers, "Contract", CONTRACTS[1]),
        "two_year": _flag(customers, "Contract", CONTRACTS[2]),
        "monthly_10": customers.get_column("MonthlyCharges").to_numpy() / 10.0,
        "fiber": _flag(customers, "InternetService", INTERNET[1]),
        "no_internet": _flag(customers, "InternetService", INTERNET[2]),
        "phone": yes("PhoneService"),
        "multiple_lines": yes("MultipleLines"),
        "OnlineSecurity": yes("OnlineSecurity"),
        "OnlineBackup": yes("OnlineBackup"),
        "TechSupport": yes("TechSupport"),
        "paperless": yes("PaperlessBilling"),
        "pay_card": _flag(customers, "PaymentMethod", "Credit card (automatic)"),
        "pay_echeck": _flag(customers, "PaymentMethod", "Electronic check"),
        "pay_mailed": _flag(customers, "PaymentMethod", "Mailed check"),
    }
    logit = np.full(customers.height, CHURN_EFFECTS["const"])
    for name, beta in CHURN_EFFECTS.items():
        if name != "const":
            logit += beta * features[name]
    probability: FloatArray = 1.0 / (1.0 + np.exp(-logit))
    return probability


def true_effects(customers: pl.DataFrame) -> FloatArray:
    """The share of the monthly hazard each default action removes for each customer: N x 6,
    column 0 (no action) all zero, negative where the action backfires (see the module
    docstring)."""
    contract = _codes(customers, "Contract", CONTRACTS)
    internet = _codes(customers, "InternetService", INTERNET)
    tenure = customers.get_column("tenure").to_numpy().astype(np.float64)
    new_customer = NEW_CUSTOMER_FLOOR + NEW_CUSTOMER_BOOST * np.exp(-tenure / NEW_CUSTOMER_MONTHS)
    common = np.asarray(CONTRACT_FACTOR)[contract] * new_customer
    discount = np.array([action.discount for action in DEFAULT_ACTIONS])
    price = np.where(discount[None, :], np.asarray(PRICE_FACTOR)[internet][:, None], 1.0)
    effect = np.asarray(BASE_EFFECT)[None, :] * common[:, None] * price

    long_tenure = (tenure > LONG_TENURE_MONTHS) & (contract != _TWO_YEAR)
    effect[long_tenure, _EMAIL] = MESSAGE_BACKFIRE
    effect[long_tenure, _SMS] = MESSAGE_BACKFIRE
    effect[contract == _TWO_YEAR, _CALL] = CALL_BACKFIRE
    clipped: FloatArray = np.clip(effect, MIN_EFFECT, MAX_EFFECT)
    return clipped


def true_churn(customers: pl.DataFrame) -> FloatArray:
    """Each customer's true probability of leaving within the log's horizon (one month) under
    each default action: N x 6, h x (1 - e_a) clipped to [0, 1]."""
    return _true_churn(customers, baseline_churn_probability(customers))


def assignment_probabilities(customers: pl.DataFrame) -> FloatArray:
    """The logging policy: each customer's probability of getting each default action, N x 6;
    every entry at least `MIN_PROPENSITY`, rows summing to 1 (see `TARGETING_LOGITS`)."""
    return _assignment_probabilities(customers, baseline_churn_probability(customers))


def generate_campaign_log(rows: int, seed: int = 42) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (log, truth) for `rows` demo customers; deterministic for a given (rows, seed).

    The log has the demo customer columns, then `action` (the action's name), `propensity` (the
    probability with which it was chosen) and `Churn` ("Yes" if the customer left within the
    month). The truth has, row for row, `true_churn_0` .. `true_churn_5`: the true probability
    of leaving within the month under each action. Raises ValueError if rows < 1.
    """
    customers = generate_customers(rows, seed).drop("Churn")
    risk = baseline_churn_probability(customers)
    probabilities = _assignment_probabilities(customers, risk)
    churn = _true_churn(customers, risk)
    rng = np.random.default_rng((seed, _CAMPAIGN_STREAM))
    cumulative = np.cumsum(probabilities, axis=1)
    drawn = rng.random(rows) * cumulative[:, -1]
    action: IntArray = (drawn[:, None] >= cumulative[:, :-1]).sum(axis=1).astype(np.int64)
    row = np.arange(rows)
    left = rng.random(rows) < churn[row, action]
    log = customers.with_columns(
        pl.Series("action", ACTION_NAMES, dtype=pl.String).gather(action),
        pl.Series("propensity", probabilities[row, action], dtype=pl.Float64),
        pl.Series("Churn", ("No", "Yes"), dtype=pl.String).gather(left.astype(np.int64)),
    )
    truth = pl.DataFrame(
        [
            pl.Series(f"true_churn_{index}", churn[:, index], dtype=pl.Float64)
            for index in range(len(ACTION_NAMES))
        ]
    )
    return log, truth


def truth_path(log: Path) -> Path:
    """Where the truth of a log is written: `<stem>.truth<suffix>` beside it."""
    return log.with_name(f"{log.stem}.truth{log.suffix}")


def _true_churn(customers: pl.DataFrame, risk: FloatArray) -> FloatArray:
    probability = np.clip(risk, 0.0, 1.0 - 1e-9)
    hazard = 1.0 - (1.0 - probability) ** (LOG_HORIZON_MONTHS / CHURN_HORIZON_MONTHS)
    churn: FloatArray = np.clip(hazard[:, None] * (1.0 - true_effects(customers)), 0.0, 1.0)
    return churn


def _assignment_probabilities(customers: pl.DataFrame, risk: FloatArray) -> FloatArray:
    coefficients = np.asarray(TARGETING_LOGITS).T  # features x actions
    month_to_month = _flag(customers, "Contract", CONTRACTS[0])
    charge = customers.get_column("MonthlyCharges").to_numpy() / 100.0
    logits = coefficients[0] + np.outer(risk, coefficients[1])
    logits += np.outer(month_to_month, coefficients[2]) + np.outer(charge, coefficients[3])
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    targeted = weights / weights.sum(axis=1, keepdims=True)
    actions = len(TARGETING_LOGITS)
    mixed: FloatArray = MIN_PROPENSITY + (1.0 - actions * MIN_PROPENSITY) * targeted
    return mixed


def _flag(customers: pl.DataFrame, column: str, value: str) -> FloatArray:
    flags: FloatArray = (customers.get_column(column) == value).to_numpy().astype(np.float64)
    return flags


def _codes(customers: pl.DataFrame, column: str, levels: tuple[str, ...]) -> IntArray:
    """Index of each row's value in `levels`."""
    values = customers.get_column(column)
    codes = np.zeros(customers.height, dtype=np.int64)
    for index, level in enumerate(levels[1:], start=1):
        codes[(values == level).to_numpy()] = index
    return codes

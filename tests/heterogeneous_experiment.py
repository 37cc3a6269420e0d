"""A randomised churn experiment whose one action helps half of the customers and hurts the rest.

Test helper. The customers are demo customers (`generate_customers`: the Telco schema). A
business with high monthly churn (prepaid, say) reads the demo's churn probability p(x) as the
chance of leaving within the month, and runs one experiment: each customer gets no action or a
retention call with probability 1/2 each, and the log records whether they left within the month.

The call's true effect on the month's churn:

- customers with a partner: it removes `HELP_SHARE` (half) of it, p (1 - 1/2);
- customers without one: it raises it by the backfire share b, min(1, p (1 + b)).

b is not a fitted constant: `backfire_share` solves for the b at which calling everyone and
calling no one have the same average churn over the population (a large reference sample of
it, `POPULATION_ROWS`), so neither static policy beats the other, and a plan wins only by
calling those the call helps and sparing those it hurts. Having a partner barely moves the
churn risk by itself, so the churn score alone cannot find who is helped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.demo import generate_customers
from aura_sentinel.demo_campaigns import baseline_churn_probability

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ACTION_NAMES = ("No action", "Retention call")
HELP_SHARE = 0.5
"""Share of the month's churn the call removes for the customers it helps."""
POPULATION_ROWS = 200_000
POPULATION_SEED = 0
ASSIGNMENT_PROBABILITY = 0.5
_OUTCOME_STREAM = 29
"""The outcomes' random stream is seeded by (seed, this), apart from the customers' own."""

POLICY_CONFIG = """\
[catalog]
names = ["No action", "Retention call"]
cost_shares = [0.0, 0.05]
[simulator]
action_effects = [0.0, 0.2]
discount_actions = []
churn_horizon_months = 1
campaign_horizon_months = 1
"""
"""The two-action catalog (the call costs 5% of the monthly charge) and the one-month horizons:
the churn model learns the month's churn from the log, and the simulator reads it so."""


def helped(customers: pl.DataFrame) -> BoolArray:
    """The customers the call helps: those with a partner (about half)."""
    flags: BoolArray = (customers.get_column("Partner") == "Yes").to_numpy()
    return flags


def month_churn(customers: pl.DataFrame) -> FloatArray:
    """Each customer's chance of leaving within the month without action."""
    return baseline_churn_probability(customers)


def true_churn(customers: pl.DataFrame, backfire: float) -> FloatArray:
    """N x 2: each customer's true chance of leaving within the month with no action, called."""
    churn = month_churn(customers)
    called = np.where(
        helped(customers), churn * (1.0 - HELP_SHARE), np.minimum(1.0, churn * (1.0 + backfire))
    )
    return np.column_stack([churn, called])


def backfire_share(rows: int = POPULATION_ROWS, seed: int = POPULATION_SEED) -> float:
    """The b at which calling everyone and no one have the same average churn on the population.

    The churn the call removes from those it helps must equal the churn it adds to the others:
    sum over the hurt of min(1, p (1 + b)) - p = HELP_SHARE x sum over the helped of p. The left
    side grows with b, so bisection finds it (to 1e-9; without the cap at 1, b would be
    HELP_SHARE x sum p helped / sum p hurt)."""
    customers = generate_customers(rows, seed)
    churn, helps = month_churn(customers), helped(customers)
    removed = HELP_SHARE * churn[helps].sum()
    hurt = churn[~helps]
    low, high = 0.0, 1.0
    if np.minimum(1.0, hurt * (1.0 + high)).sum() - hurt.sum() < removed:
        raise ValueError("the call cannot hurt enough to balance what it removes (b > 1)")
    while high - low > 1e-9:
        middle = (low + high) / 2
        added = np.minimum(1.0, hurt * (1.0 + middle)).sum() - hurt.sum()
        low, high = (middle, high) if added < removed else (low, middle)
    return (low + high) / 2


def generate_experiment(rows: int, seed: int, backfire: float) -> tuple[pl.DataFrame, FloatArray]:
    """(log, truth): the experiment on `rows` demo customers, in the campaign-log format (the
    customer columns, `action`, `propensity` 1/2, `Churn` within the month), and each row's
    true churn under no action and the call (N x 2)."""
    customers = generate_customers(rows, seed).drop("Churn")
    truth = true_churn(customers, backfire)
    rng = np.random.default_rng((seed, _OUTCOME_STREAM))
    called = rng.random(rows) < ASSIGNMENT_PROBABILITY
    left = rng.random(rows) < np.where(called, truth[:, 1], truth[:, 0])
    log = customers.with_columns(
        pl.Series("action", ACTION_NAMES, dtype=pl.String).gather(called.astype(np.int64)),
        pl.lit(ASSIGNMENT_PROBABILITY).alias("propensity"),
        pl.Series("Churn", ("No", "Yes"), dtype=pl.String).gather(left.astype(np.int64)),
    )
    return log, truth


def write_policy_config(folder: Path, iterations: int) -> Path:
    """The experiment's policy config, with `iterations` DQN iterations, as a TOML file."""
    path = folder / "experiment.toml"
    path.write_text(f"{POLICY_CONFIG}[dqn]\niterations = {iterations}\n", encoding="utf-8")
    return path


def paired_difference(
    truth: FloatArray, plan: npt.NDArray[np.integer], other: npt.NDArray[np.integer]
) -> tuple[float, float]:
    """(mean churn of `other` minus that of `plan`, its standard error) over the customers,
    valued under the truth. Each customer's churn is a Bernoulli draw of their true probability
    under the action each policy gives them; a customer both give the same action adds nothing
    (paired), the others add p(1 - p) for each policy (independent draws: the larger variance)."""
    rows = np.arange(truth.shape[0])
    churn_plan, churn_other = truth[rows, plan], truth[rows, other]
    differs = plan != other
    variance = np.where(
        differs, churn_plan * (1 - churn_plan) + churn_other * (1 - churn_other), 0.0
    )
    difference = float(np.mean(churn_other - churn_plan))
    return difference, float(np.sqrt(variance.sum()) / truth.shape[0])

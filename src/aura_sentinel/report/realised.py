"""The realised result: observed churn per logged action, and when the recommendation was followed.

When the scored file is a campaign log, `score` copies the action each customer was actually
given (`LoggedAction`) and their outcome into the results. Grouping the outcomes by that action,
and by whether it was the recommended one, shows what happened, with a Wilson 95% interval per
group. These are observed rates of groups nobody chose at random for this comparison: they are
not effects unless the log's actions were assigned at random.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.effects.offpolicy import Z_95

LOGGED_ACTION = "LoggedAction"
"""The results column `score` copies the campaign log's action into."""
FOLLOWED = "followed the recommendation"
NOT_FOLLOWED = "did not follow it"


@dataclass(frozen=True)
class ObservedChurn:
    """A group of customers, how many churned, and the churn rate's Wilson 95% interval."""

    label: str
    customers: int
    churned: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.churned / self.customers if self.customers else float("nan")


@dataclass(frozen=True)
class Realised:
    per_action: list[ObservedChurn]
    """One group per catalog action that was logged at least once, in catalog order."""
    followed: ObservedChurn
    not_followed: ObservedChurn
    unrecognised: int
    """Customers whose logged action is neither a catalog name nor an id (left out)."""
    unlogged: int
    """Customers without a logged action or without an outcome (left out)."""


def wilson_interval(
    churned: npt.NDArray[np.int64], customers: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The Wilson score 95% interval of each rate churned / customers (NaN for no customers):
    unlike the normal interval it stays within [0, 1] and is sound for small groups and for
    rates near 0 or 1."""
    n = customers.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = churned / n
        z2 = Z_95**2
        centre = (rate + z2 / (2 * n)) / (1 + z2 / n)
        half = Z_95 * np.sqrt(rate * (1 - rate) / n + z2 / (4 * n**2)) / (1 + z2 / n)
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def action_ids(logged: pl.Series, names: tuple[str, ...]) -> npt.NDArray[np.int64]:
    """Each logged action as a catalog id: a name in any case, or an id 0..A-1; -1 when it is
    neither, or missing."""
    text = pl.col("logged").cast(pl.String).str.strip_chars()
    by_name = text.str.to_lowercase().replace_strict(
        [name.lower() for name in names],
        list(range(len(names))),
        default=None,
        return_dtype=pl.Int64,
    )
    number = text.cast(pl.Float64, strict=False)
    is_id = (number % 1 == 0) & number.is_between(0, len(names) - 1)
    by_id = pl.when(is_id).then(number.cast(pl.Int64))
    ids = logged.rename("logged").to_frame().select(pl.coalesce(by_name, by_id, pl.lit(-1)))
    return ids.to_series().to_numpy().astype(np.int64)


def realised_result(
    logged: pl.Series,
    recommended: pl.Series,
    churned: npt.NDArray[np.float32],
    unknown: npt.NDArray[np.bool_],
    names: tuple[str, ...],
) -> Realised:
    """Observed churn per logged action and for following the recommendation or not.

    `logged` is the LoggedAction column, `recommended` RecommendedAction (catalog names),
    `churned` 0/1 per customer with `unknown` marking those without an outcome."""
    logged_id = action_ids(logged, names)
    recommended_id = action_ids(recommended, names)
    text = logged.cast(pl.String).str.strip_chars()
    unlogged = (text.is_null() | (text == "")).fill_null(True).to_numpy() | unknown
    unrecognised = ~unlogged & (logged_id < 0)
    known = ~unlogged & ~unrecognised
    outcome = churned[known].astype(np.int64)
    action = logged_id[known]
    actions = len(names)
    customers = np.bincount(action, minlength=actions)
    churners = np.bincount(action, weights=outcome, minlength=actions).astype(np.int64)
    followed = action == recommended_id[known]
    group = np.where(followed, 0, 1)
    followed_customers = np.bincount(group, minlength=2)
    followed_churners = np.bincount(group, weights=outcome, minlength=2).astype(np.int64)
    low, high = wilson_interval(churners, customers)
    follow_low, follow_high = wilson_interval(followed_churners, followed_customers)
    per_action = [
        ObservedChurn(
            names[index],
            int(customers[index]),
            int(churners[index]),
            float(low[index]),
            float(high[index]),
        )
        for index in np.flatnonzero(customers)
    ]
    followed_groups = [
        ObservedChurn(
            label,
            int(followed_customers[index]),
            int(followed_churners[index]),
            float(follow_low[index]),
            float(follow_high[index]),
        )
        for index, label in enumerate((FOLLOWED, NOT_FOLLOWED))
    ]
    return Realised(
        per_action=per_action,
        followed=followed_groups[0],
        not_followed=followed_groups[1],
        unrecognised=int(unrecognised.sum()),
        unlogged=int(unlogged.sum()),
    )

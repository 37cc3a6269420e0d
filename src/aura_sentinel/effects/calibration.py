"""Learned effects into the simulator: the share of the hazard each action removes, per customer.

The simulator reads a churn probability p over H months as a constant monthly hazard
h = 1 - (1 - p) ** (1 / H), and an action taken in a month removes a share e of that month's
hazard. A campaign log tells us p_a, the churn within its horizon H after action a. The learned
share e_a is the one for which "action a in the first month, then nothing" reproduces p_a:

    1 - p_a = (1 - h (1 - e_a)) * (1 - h) ** (H - 1)

so e_a = 1 - (1 - s) / h with s = (1 - p_a) (1 - h) / (1 - p_0), the first month's survival.
(For a horizon under a month, the first month's survival is read at the power H:
(1 - h (1 - e_a)) ** H = 1 - p_a.) A negative share is an action that backfires.

The simulator applies these shares as each customer's own effect (`customer_effect`), still
scaled by its fatigue and recency multipliers: they are the effect at a fresh state, no recent
contact and months since the last one at the top bucket (multiplier 1 with the default recency).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

LARGEST_BACKFIRE = -1.0
"""The lowest share: a backfiring action at most doubles the month's hazard."""
_HIGHEST_PROBABILITY = 1.0 - 1e-9  # as the simulator's monthly hazard clips it
_ROUNDING = 1e-9  # a share this close to a bound is at it, not clipped


@dataclass(frozen=True)
class EffectClipping:
    """How many customers' learned shares, per action, fell outside what the simulator allows:
    above `max_effect` (the log says more than the largest share allowed) or below -1."""

    rows: int
    above_max: tuple[int, ...]
    below_min: tuple[int, ...]

    @property
    def clipped(self) -> int:
        return sum(self.above_max) + sum(self.below_min)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def hazard_effects(
    churn_no_action: FloatArray,
    churn_under: FloatArray,
    horizon_months: float,
    max_effect: float,
) -> tuple[FloatArray, EffectClipping]:
    """N x A share of the first month's hazard each action removes, clipped to [-1, max_effect],
    and how many were clipped. Column 0 (no action) is 0, and so is any column equal to it.

    `churn_no_action` (N,) and `churn_under` (N x A) are churn probabilities within the
    campaign log's horizon, `horizon_months` (> 0) long.
    """
    no_action = np.clip(churn_no_action.astype(np.float64), 0.0, _HIGHEST_PROBABILITY)[:, None]
    with_action = np.clip(churn_under.astype(np.float64), 0.0, 1.0)
    hazard = 1.0 - (1.0 - no_action) ** (1.0 / horizon_months)
    first_month = min(horizon_months, 1.0)
    later_survival = (1.0 - hazard) ** (horizon_months - first_month)
    first_survival = ((1.0 - with_action) / later_survival) ** (1.0 / first_month)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 1.0 - (1.0 - first_survival) / hazard
    # No hazard to remove: any share fits when the log agrees, none when it says churn rose.
    share = np.where(hazard > 0, share, np.where(with_action > no_action, -np.inf, 0.0))
    share = np.where(churn_under == churn_no_action[:, None], 0.0, share)
    share[:, 0] = 0.0
    above = share > max_effect + _ROUNDING
    below = share < LARGEST_BACKFIRE - _ROUNDING
    clipping = EffectClipping(
        rows=int(share.shape[0]),
        above_max=tuple(int(count) for count in above.sum(axis=0)),
        below_min=tuple(int(count) for count in below.sum(axis=0)),
    )
    return np.clip(share, LARGEST_BACKFIRE, max_effect), clipping

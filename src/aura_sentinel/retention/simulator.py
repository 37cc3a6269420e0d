"""The retention simulator: a monthly, discounted, stationary Markov model of one customer.

Each month the company picks an action, pays its cost, and the customer then leaves with a
monthly hazard or stays and brings `margin x monthly charge`. The churn model's probability p is
read as the chance of leaving within `churn_horizon_months` without action, so the monthly hazard
is h = 1 - (1 - p) ** (1 / horizon). An action removes a share e of the hazard, h' = h (1 - e):

    e = effect[a] x responsiveness x contract x new-customer x price (discount actions only)
        x fatigue ** recent_interventions x recency[months since last contact]

(each action's effect and discount flag are read from its record in the catalog, `Action`),
and, once a customer has had `backlash_after` recent contacts, any
further contact backfires: h' = h (1 + backlash). The controllable part of the state, recent
interventions (0..max) and months since the last contact (0..3, read from days / 30), is small
and discrete and moves deterministically with the action, so the exact optimum is computable
(see `oracle.py`).

Effects learned from a campaign log replace everything but fatigue and recency: the state then
carries each customer's learned share of the hazard per action (`learned_effect_columns`, see
`effects/calibration.py`), and the simulator is built with the actions the log tried (`tried`);
the others are never chosen, by the optimum, the baselines or the DQN.

Everything is vectorised over customers with numpy: arrays are customers x states x actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.retention.checks import allowed, check_fields
from aura_sentinel.retention.state import (
    CHURN_PROBABILITY,
    CONTRACT,
    DAYS_SINCE_CONTACT,
    ENGAGEMENT,
    INTERNET,
    LEARNED_EFFECTS,
    MONTHLY_CHARGES,
    RECENT_INTERVENTIONS,
    RESPONSE_RATE,
    TENURE,
    StateMatrix,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAYS_PER_MONTH = 30.0


@dataclass(frozen=True)
class SimulatorSettings:
    """Every assumption of the retention simulator but the actions' own (see `Action`). Override
    any of them with `--policy-config`; each field states the values it allows."""

    discount: float = field(default=0.99, metadata=allowed(0, 1, low_open=True, high_open=True))
    """Monthly discount factor gamma for future profit (0.99 a month is about 11% a year)."""
    margin: float = field(default=0.5, metadata=allowed(0.01, 1))
    """Share of the monthly charge that is profit while the customer stays (at least 1%: the
    DQN's values are scaled by it, in float32)."""
    churn_horizon_months: float = field(default=12.0, metadata=allowed(1, 120))
    """The churn probability is read as the chance of leaving within this many months."""
    campaign_horizon_months: float = field(default=0.0, metadata=allowed(0, 120))
    """The campaign log's outcome window in months: a logged customer counts as churned when
    they left within it. 0 means the churn horizon (see `campaign_horizon`)."""
    response_prior: float = field(default=0.3, metadata=allowed(0, 1, low_open=True))
    """Response rate assumed when the table has no `response_rate` column."""
    max_responsiveness: float = field(default=2.0, metadata=allowed(0, 10))
    """Cap on response_rate / response_prior, the response-rate multiplier of every effect."""
    engagement_weight: float = field(default=1.0, metadata=allowed(0, 2))
    """Effects are multiplied by 1 + weight x (engagement - 0.5): engaged customers listen more.
    At most 2, so that the multiplier stays at 0 or more for engagement in [0, 1]."""
    contract_response: tuple[float, ...] = field(
        default=(1.0, 0.6, 0.4), metadata=allowed(0, 10, count=(3, 3))
    )
    """Effect multiplier by contract: month-to-month, one year, two year."""
    price_sensitivity: tuple[float, ...] = field(
        default=(0.8, 1.0, 1.3), metadata=allowed(0, 10, count=(3, 3))
    )
    """Discount-effect multiplier by internet service: none, DSL, fiber."""
    new_customer_boost: float = field(default=0.5, metadata=allowed(0, 10))
    """Extra effect for new customers: multiplier 1 + boost x exp(-tenure / new_customer_months)."""
    new_customer_months: float = field(default=12.0, metadata=allowed(0, 120, low_open=True))
    """How fast the new-customer boost fades with tenure (months)."""
    max_recent_interventions: int = field(default=4, metadata=allowed(1, 12, whole=True))
    """Recent interventions are counted up to this number; each quiet month takes one away."""
    fatigue: float = field(default=0.75, metadata=allowed(0, 1))
    """Effect multiplier per recent intervention: the fifth email works less than the first."""
    recency: tuple[float, ...] = field(
        default=(0.5, 0.75, 0.9, 1.0), metadata=allowed(0, 1, count=(1, 12))
    )
    """Effect multiplier by months since the last contact: under 1, 1, 2, 3 or more. With the
    bound on `max_recent_interventions`, the controllable grid has at most 13 x 12 states."""
    backlash_after: int = field(default=3, metadata=allowed(0, 100, whole=True))
    """From this many recent interventions on, any further contact backfires (never when it is
    above `max_recent_interventions`)."""
    backlash: float = field(default=0.2, metadata=allowed(0, 10))
    """Share by which a backfiring contact raises the monthly hazard."""
    max_effect: float = field(default=0.9, metadata=allowed(0, 1))
    """No action removes more than this share of the hazard."""

    def __post_init__(self) -> None:
        check_fields(self, "simulator")

    @property
    def campaign_horizon(self) -> float:
        """The campaign log's outcome window in months, the churn horizon unless set."""
        return self.campaign_horizon_months or self.churn_horizon_months


@dataclass(frozen=True)
class Simulator:
    """The retention MDP for a batch of customers, with exact tables and sampled steps."""

    settings: SimulatorSettings = field(default_factory=SimulatorSettings)
    catalog: ActionCatalog = field(default_factory=ActionCatalog)
    tried: tuple[bool, ...] | None = None
    """None: the assumed effects. Else the effects are learned: the state carries them (one
    column per action but no action, from `LEARNED_EFFECTS` on), and `tried[a]` says whether the
    log tried action a; an action not tried is never chosen."""

    def __post_init__(self) -> None:
        if self.tried is not None and (len(self.tried) != self.catalog.size or not self.tried[0]):
            raise ValueError("tried: one flag per action, and no action is always allowed")

    @property
    def allowed(self) -> npt.NDArray[np.bool_]:
        """The actions any policy may choose: every action unless the log did not try it."""
        if self.tried is None:
            return np.ones(self.catalog.size, dtype=np.bool_)
        return np.asarray(self.tried, dtype=np.bool_)

    def best_allowed(self, values: FloatArray) -> IntArray:
        """The allowed action of highest value along the last axis (ties: the lower id)."""
        masked = np.where(self.allowed, values, -np.inf)
        best: IntArray = masked.argmax(axis=-1).astype(np.int64)
        return best

    # The discrete controllable grid: state index g = recent * months_buckets + months_since.
    @property
    def months_buckets(self) -> int:
        return len(self.settings.recency)

    @property
    def grid_size(self) -> int:
        return (self.settings.max_recent_interventions + 1) * self.months_buckets

    def grid(self) -> tuple[IntArray, IntArray]:
        """(recent interventions, months since contact) of every grid state."""
        recent, months = np.divmod(np.arange(self.grid_size), self.months_buckets)
        return recent.astype(np.int64), months.astype(np.int64)

    def next_grid_state(self) -> IntArray:
        """Next grid state for every (grid state, action): grid x actions."""
        recent, months = self.grid()
        top = self.settings.max_recent_interventions
        contacted = np.arange(self.catalog.size) > 0
        next_recent = np.where(
            contacted[None, :],
            np.minimum(recent + 1, top)[:, None],
            np.maximum(recent - 1, 0)[:, None],
        )
        quiet_months = np.minimum(months + 1, self.months_buckets - 1)
        next_months = np.where(
            contacted[None, :], min(1, self.months_buckets - 1), quiet_months[:, None]
        )
        return (next_recent * self.months_buckets + next_months).astype(np.int64)

    def grid_index(self, state: StateMatrix) -> IntArray:
        """Each customer's grid state, read from the state matrix."""
        top = self.settings.max_recent_interventions
        recent = np.clip(np.floor(state[:, RECENT_INTERVENTIONS]), 0, top).astype(np.int64)
        months = np.clip(
            np.floor(state[:, DAYS_SINCE_CONTACT] / DAYS_PER_MONTH), 0, self.months_buckets - 1
        ).astype(np.int64)
        index: IntArray = recent * self.months_buckets + months
        return index

    def with_grid_state(self, state: StateMatrix, grid_index: IntArray) -> StateMatrix:
        """A copy of `state` with its controllable columns set to the given grid states."""
        recent, months = np.divmod(grid_index, self.months_buckets)
        moved: StateMatrix = state.copy()
        moved[:, RECENT_INTERVENTIONS] = recent
        moved[:, DAYS_SINCE_CONTACT] = months * DAYS_PER_MONTH
        return moved

    def monthly_hazard(self, state: StateMatrix) -> FloatArray:
        probability = np.clip(state[:, CHURN_PROBABILITY].astype(np.float64), 0.0, 1.0 - 1e-9)
        return 1.0 - (1.0 - probability) ** (1.0 / self.settings.churn_horizon_months)

    def lifetime_value(self, state: StateMatrix) -> FloatArray:
        """Expected discounted profit without any action, in months of charge (closed form).

        With no action the hazard is constant, so this is the textbook customer lifetime value:
        margin x s / (1 - gamma x s), with s the monthly survival probability.
        """
        survival = 1.0 - self.monthly_hazard(state)
        return self.settings.margin * survival / (1.0 - self.settings.discount * survival)

    def tables(self, state: StateMatrix) -> tuple[FloatArray, FloatArray]:
        """(survival, reward) for every customer, grid state and action: N x grid x actions."""
        recent, months = self.grid()
        return self._survival_and_reward(state, recent[None, :, None], months[None, :, None])

    def current(self, state: StateMatrix) -> tuple[FloatArray, FloatArray]:
        """(survival, reward) of every action in each customer's own state: N x actions."""
        index = self.grid_index(state)
        recent, months = np.divmod(index, self.months_buckets)
        survival, reward = self._survival_and_reward(
            state, recent[:, None, None], months[:, None, None]
        )
        return survival[:, 0, :], reward[:, 0, :]

    def churn_within(self, state: StateMatrix, months: float) -> FloatArray:
        """N x actions: the chance each customer leaves within `months` (> 0) if the action is
        taken now, in their own state, and nothing after. With learned effects, at a fresh state
        whose churn probability gives the log's no-action hazard, this is the learned churn the
        effects were calibrated to (`effects/calibration.py`)."""
        first_month, _ = self.current(state)
        if months < 1:  # a window within the first month: its survival at the power `months`
            within: FloatArray = 1.0 - first_month**months
            return within
        quiet = (1.0 - self.monthly_hazard(state)) ** (months - 1.0)  # no action: no effect
        churn: FloatArray = 1.0 - first_month * quiet[:, None]
        return churn

    def step(
        self, state: StateMatrix, actions: IntArray, rng: np.random.Generator
    ) -> tuple[StateMatrix, FloatArray, npt.NDArray[np.bool_]]:
        """Sample one month: (next state, reward, churned) for each customer."""
        survival, _ = self.current(state)
        rows = np.arange(state.shape[0])
        stays = rng.random(state.shape[0]) < survival[rows, actions]
        charge = state[:, MONTHLY_CHARGES].astype(np.float64)
        cost = np.asarray(self.catalog.cost_shares)[actions] * charge
        reward = np.where(stays, self.settings.margin * charge, 0.0) - cost
        next_index = self.next_grid_state()[self.grid_index(state), actions]
        return self.with_grid_state(state, next_index), reward, ~stays

    def _survival_and_reward(
        self, state: StateMatrix, recent: IntArray, months: IntArray
    ) -> tuple[FloatArray, FloatArray]:
        settings = self.settings
        customer_effect = self._customer_effect(state)  # N x actions
        fatigue = settings.fatigue ** recent.astype(np.float64)
        recency = np.asarray(settings.recency)[months]
        effect = customer_effect[:, None, :] * fatigue * recency
        contact = np.arange(self.catalog.size)[None, None, :] > 0
        backfires = contact & (recent >= settings.backlash_after)
        effect = np.where(backfires, -settings.backlash, np.minimum(effect, settings.max_effect))
        hazard = self.monthly_hazard(state)[:, None, None] * (1.0 - effect)
        survival = 1.0 - np.clip(hazard, 0.0, 1.0)
        charge = state[:, MONTHLY_CHARGES].astype(np.float64)[:, None, None]
        cost = np.asarray(self.catalog.cost_shares)[None, None, :] * charge
        reward = survival * settings.margin * charge - cost
        return survival, reward

    def _customer_effect(self, state: StateMatrix) -> FloatArray:
        """The customer-specific part of each action's effect: N x actions."""
        if self.tried is not None:
            learned = state[:, LEARNED_EFFECTS : LEARNED_EFFECTS + self.catalog.size - 1]
            none = np.zeros((state.shape[0], 1))
            effect_learned: FloatArray = np.hstack([none, learned.astype(np.float64)])
            return effect_learned
        settings = self.settings
        response = np.minimum(
            state[:, RESPONSE_RATE].astype(np.float64) / settings.response_prior,
            settings.max_responsiveness,
        )
        engagement = 1.0 + settings.engagement_weight * (state[:, ENGAGEMENT] - 0.5)
        contract = np.asarray(settings.contract_response)[_code(state[:, CONTRACT], 3)]
        new_customer = 1.0 + settings.new_customer_boost * np.exp(
            -state[:, TENURE].astype(np.float64) / settings.new_customer_months
        )
        price = np.asarray(settings.price_sensitivity)[_code(state[:, INTERNET], 3)]
        is_discount = np.asarray(self.catalog.discounts, dtype=np.bool_)
        sensitivity = np.where(is_discount[None, :], price[:, None], 1.0)
        base = np.asarray(self.catalog.effects, dtype=np.float64)[None, :]
        effect: FloatArray = base * (response * engagement * contract * new_customer)[:, None]
        return effect * sensitivity


def _code(values: npt.NDArray[np.float32], levels: int) -> IntArray:
    return np.clip(np.rint(values), 0, levels - 1).astype(np.int64)

"""The policy's settings in plain words: each one a label and a value with its unit.

The report never shows a raw setting name: every simulator and DQN setting has a label here (a
test checks that each field of `SimulatorSettings` and `DQNConfig` has one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aura_sentinel.retention.state import (
    DEFAULT_DAYS_SINCE_CONTACT,
    DEFAULT_ENGAGEMENT,
    DEFAULT_MONTHLY_CHARGES,
    DEFAULT_TENURE,
    SERVICE_ROLES,
    SOURCE_COLUMNS,
)

ASSUMED_EFFECTS = (
    "The actions' effects on churn are assumed: they are stated settings of the simulator, "
    "not learned from data (`train --campaigns LOG` learns them from a campaign log)."
)
"""Said wherever the report shows what the actions do or what the plan brings."""

Format = Callable[[Any], str]


def _plain(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _percent(value: Any) -> str:
    return f"{value:.0%}"


def _months(value: Any) -> str:
    return f"{value:g} month" if value == 1 else f"{value:g} months"


def _times(value: Any) -> str:
    return f"{value:g}x"


def _multipliers(value: Any) -> str:
    return ", ".join(f"{item:g}x" for item in value)


def _discount(value: Any) -> str:
    return f"{value:g} a month (future profit loses {1 - value**12:.0%} of its worth a year)"


SIMULATOR_SETTINGS: dict[str, tuple[str, Format]] = {
    "discount": ("monthly discount factor for future profit", _discount),
    "margin": ("share of the monthly charge that is profit", _percent),
    "churn_horizon_months": ("the churn probability is read as leaving within", _months),
    "campaign_horizon_months": (
        "a campaign log's outcome is churn within",
        lambda value: _months(value) if value else "the churn horizon",
    ),
    "response_prior": ("response rate assumed when the table has none", _percent),
    "max_responsiveness": ("largest boost of an effect for a responsive customer", _times),
    "engagement_weight": (
        "how much engagement strengthens effects (1 + weight x (engagement - 0.5))",
        _plain,
    ),
    "contract_response": (
        "effect multiplier by contract (month-to-month, one year, two year)",
        _multipliers,
    ),
    "price_sensitivity": (
        "discount-effect multiplier by internet service (none, DSL, fiber)",
        _multipliers,
    ),
    "new_customer_boost": ("extra effect for a brand-new customer", _percent),
    "new_customer_months": ("months over which the new-customer boost fades", _months),
    "max_recent_interventions": ("recent contacts counted, at most", _plain),
    "fatigue": ("effect multiplier per recent contact (contact fatigue)", _times),
    "recency": (
        "effect multiplier by months since the last contact (under 1, 1, 2, 3 or more)",
        _multipliers,
    ),
    "backlash_after": ("recent contacts from which one more contact backfires", _plain),
    "backlash": ("rise of the monthly churn hazard when a contact backfires", _percent),
    "max_effect": ("largest share of the monthly churn hazard an action removes", _percent),
}
"""Simulator setting -> (label, value in words). The actions' own settings are in their table."""

DQN_SETTINGS: dict[str, tuple[str, Format]] = {
    "hidden": ("units per hidden layer of the network", _plain),
    "learning_rate": ("learning rate at the start", _plain),
    "final_learning_rate_share": ("learning rate at the end, as a share of the start", _percent),
    "iterations": ("training iterations (one learning step each)", lambda value: f"{value:,}"),
    "parallel_customers": ("simulated customers stepped together", lambda value: f"{value:,}"),
    "batch_size": ("simulated months per learning step", lambda value: f"{value:,}"),
    "buffer_size": ("simulated months kept for learning", lambda value: f"{value:,}"),
    "learning_starts": ("iterations of exploration before learning starts", _plain),
    "target_update_interval": ("learning steps between target-network copies", _plain),
    "epsilon_start": ("share of random actions at the start", _percent),
    "epsilon_end": ("share of random actions after the decay", _percent),
    "epsilon_decay_fraction": ("share of training over which random actions decrease", _percent),
    "restart_probability": (
        "monthly chance that a simulated customer is replaced by a fresh one",
        _percent,
    ),
    "seed": ("random seed", _plain),
}

STATE_FIELDS: dict[str, tuple[str, str]] = {
    "contract": ("contract type", "month-to-month"),
    "internet_service": ("internet service", "DSL"),
    "tenure": ("tenure in months", f"{DEFAULT_TENURE:g} months"),
    "monthly_charges": (
        "monthly charge",
        f"{DEFAULT_MONTHLY_CHARGES:g}: money is counted in months of charge",
    ),
    "recent_interventions": ("recent contacts", "0 contacts"),
    "days_since_contact": ("days since the last contact", f"{DEFAULT_DAYS_SINCE_CONTACT:g} days"),
    "response_rate": ("response rate", "the simulator's assumed response rate"),
    "engagement": ("engagement", f"{DEFAULT_ENGAGEMENT:g}"),
    **{
        role: (f"{SOURCE_COLUMNS[role]} (counts towards engagement)", "not counted")
        for role in SERVICE_ROLES
    },
}
"""State field (role) -> (label, the default used when the table has no column for it)."""


def simulator_settings(settings: dict[str, Any]) -> list[list[str]]:
    """[label, value] of each simulator setting but the actions' (in the actions' table)."""
    return _in_words(settings, SIMULATOR_SETTINGS, {"action_effects", "discount_actions"})


def dqn_settings(settings: dict[str, Any]) -> list[list[str]]:
    return _in_words(settings, DQN_SETTINGS, set())


def _in_words(
    settings: dict[str, Any], labels: dict[str, tuple[str, Format]], skipped: set[str]
) -> list[list[str]]:
    rows = []
    for name, value in settings.items():
        if name in skipped:
            continue
        label, shown = labels.get(name, (name.replace("_", " "), _plain))
        rows.append([label, shown(value)])
    return rows

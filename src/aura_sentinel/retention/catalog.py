"""The retention actions a CRM team can take: each one record, with its cost and its effect.

An action is its name, its cost, its effect and whether it includes a price discount.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aura_sentinel.retention.checks import Allowed, SettingError, shown

MIN_ACTIONS = 2
MAX_ACTIONS = 16
MAX_NAME_LENGTH = 80
MAX_COST_SHARE = 12.0
"""An action may cost up to a year of the customer's monthly charge."""


COST_SHARE = Allowed(0.0, MAX_COST_SHARE)
EFFECT = Allowed(0.0, 1.0, high_open=True)


@dataclass(frozen=True)
class Action:
    """One retention action. Its keys in `--policy-config` and bundle.json, where the actions are
    lists indexed by action id: `catalog.names`, `catalog.cost_shares`, `simulator.action_effects`
    and `simulator.discount_actions` (the ids of the actions with `discount`)."""

    name: str
    """What the action is called in results and reports."""
    cost_share: float
    """One-time cost, as a share of the customer's monthly charge (0 to 12)."""
    effect: float
    """Share of the monthly hazard it removes for a typical, fresh customer (0 to under 1)."""
    discount: bool
    """It includes a price discount, so its effect depends on the customer's price sensitivity."""

    def __post_init__(self) -> None:
        name = self.name
        if not (
            isinstance(name, str)
            and name.strip()
            and len(name) <= MAX_NAME_LENGTH
            and name.isprintable()
        ):
            raise SettingError(
                "name",
                f"is {shown(name)}, allowed a text of 1 to {MAX_NAME_LENGTH} printable characters",
            )
        COST_SHARE.check("cost_share", self.cost_share)
        EFFECT.check("effect", self.effect)
        if not isinstance(self.discount, bool):
            raise SettingError("discount", f"is {shown(self.discount)}, allowed true or false")


DEFAULT_ACTIONS = (
    Action("No action", 0.0, 0.0, discount=False),
    Action("Send email", 0.01, 0.04, discount=False),
    Action("Send SMS", 0.02, 0.07, discount=False),
    Action("Offer 10% discount", 0.10, 0.18, discount=True),
    Action("Offer 20% discount", 0.20, 0.30, discount=True),
    Action("Personal call + 30% discount", 0.35, 0.50, discount=True),
)
"""The old system's six actions, by action id 0-5."""


@dataclass(frozen=True)
class ActionCatalog:
    """The retention actions, indexed by action id; action 0 is doing nothing."""

    actions: tuple[Action, ...] = DEFAULT_ACTIONS

    def __post_init__(self) -> None:
        check_action_count(len(self.actions))
        first_index: dict[str, int] = {}
        for index, action in enumerate(self.actions):
            if action.name in first_index:
                raise SettingError(
                    f"catalog.names[{index}]",
                    f"repeats {shown(action.name)} (catalog.names[{first_index[action.name]}]), "
                    "allowed one name per action",
                )
            first_index[action.name] = index
        nothing = self.actions[0]
        if nothing.cost_share != 0:
            raise SettingError(
                "catalog.cost_shares[0]",
                f"is {shown(nothing.cost_share)}, allowed 0 (action 0 is doing nothing)",
            )
        if nothing.effect != 0:
            raise SettingError(
                "simulator.action_effects[0]",
                f"is {shown(nothing.effect)}, allowed 0 (action 0 is doing nothing)",
            )
        if nothing.discount:
            raise SettingError(
                "simulator.discount_actions",
                "includes 0, allowed ids of actions other than 0 (action 0 is doing nothing)",
            )

    @property
    def size(self) -> int:
        return len(self.actions)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(action.name for action in self.actions)

    @property
    def cost_shares(self) -> tuple[float, ...]:
        return tuple(action.cost_share for action in self.actions)

    @property
    def effects(self) -> tuple[float, ...]:
        return tuple(action.effect for action in self.actions)

    @property
    def discounts(self) -> tuple[bool, ...]:
        return tuple(action.discount for action in self.actions)

    @property
    def discount_ids(self) -> tuple[int, ...]:
        return tuple(index for index, action in enumerate(self.actions) if action.discount)

    def to_json(self) -> dict[str, Any]:
        """The `catalog` table; the effects and discount ids belong to the `simulator` table."""
        return {"names": self.names, "cost_shares": self.cost_shares}


def check_action_count(count: int) -> None:
    if not MIN_ACTIONS <= count <= MAX_ACTIONS:
        raise SettingError(
            "catalog.names", f"has {count} actions, allowed {MIN_ACTIONS} to {MAX_ACTIONS}"
        )

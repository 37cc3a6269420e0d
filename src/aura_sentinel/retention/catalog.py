"""The retention actions a CRM team can take, and what each costs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionCatalog:
    """The six retention actions, indexed by action id 0-5 (the old system's catalog)."""

    names: tuple[str, ...] = (
        "No action",
        "Send email",
        "Send SMS",
        "Offer 10% discount",
        "Offer 20% discount",
        "Personal call + 30% discount",
    )
    """What each action is called in results and reports."""
    cost_shares: tuple[float, ...] = (0.0, 0.01, 0.02, 0.10, 0.20, 0.35)
    """One-time cost of each action, as a share of the customer's monthly charge."""

    def __post_init__(self) -> None:
        if len(self.names) != len(self.cost_shares):
            raise ValueError("the catalog needs one cost share per action name")
        if any(share < 0 for share in self.cost_shares):
            raise ValueError("action cost shares must be zero or more")
        if self.cost_shares[0] != 0:
            raise ValueError("action 0 is 'no action' and must cost nothing")

    @property
    def size(self) -> int:
        return len(self.names)

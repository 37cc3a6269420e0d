"""Two valuations of the same policies, side by side: the certification and the off-policy estimate.

At training, every policy is valued exactly under the simulator calibrated with the learned
effects (profit per customer over the customer's lifetime, on held-out customers), and the plans
of the campaign log's off-policy evaluation are estimated on the logged customers (churn and
value within the log's horizon). The two describe the same policy for no action, the risk rule,
"treat the riskiest", a single action for everyone and the plan itself; this module pairs those
rows and keeps the others on their own side. The units differ: the two are shown, never
subtracted.
"""

from __future__ import annotations

from dataclasses import dataclass

from aura_sentinel.effects.offpolicy import PolicyValue
from aura_sentinel.effects.record import EffectsRecord

_SAME_NAME = ("no_action", "risk_rule", "treat_the_riskiest")
_CERTIFIED_ORDER = (
    "optimal",
    "dqn",
    "best_single_action",
    "treat_the_riskiest",
    "risk_rule",
    "myopic",
    "always_email",
    "no_action",
)


@dataclass(frozen=True)
class Valuations:
    """One policy: its certified value (None: not certified) and its off-policy estimate on
    the log (None: not evaluated there)."""

    name: str
    """The certification's key (e.g. "dqn"), else the off-policy table's name (e.g. "logged")."""
    certified: float | None
    off_policy: PolicyValue | None


def best_single_action(record: EffectsRecord) -> str | None:
    """The off-policy table's best single action for everyone ("always:<action>"): the one the
    record pairs the recommended plan with, else the single action of the highest value."""
    for key in record.off_policy.differences:
        other = key.removeprefix("recommended-").rsplit(":", 1)[0]
        if other.startswith("always:"):
            return other
    singles = [policy for policy in record.off_policy.policies if policy.name.startswith("always:")]
    best = max(singles, key=lambda policy: policy.value["dr"].estimate, default=None)
    return None if best is None else best.name


def cheapest_contact(cost_shares: list[float], tried: tuple[bool, ...]) -> int | None:
    """The action the baseline "always email" gives everyone: the cheapest tried contact (ties
    to the lower id), as `retention.evaluation.RiskRuleActions` chooses it."""
    contacts = [action for action in range(1, len(cost_shares)) if tried[action]]
    return min(contacts, key=lambda action: cost_shares[action], default=None)


def paired_valuations(
    certified: dict[str, float], record: EffectsRecord, cost_shares: list[float]
) -> list[Valuations]:
    """Every certified policy (in a fixed order: optimum and DQN first, no action last) with its
    off-policy twin when the log has one, then the off-policy plans without a certified twin."""
    by_name = {policy.name: policy for policy in record.off_policy.policies}
    twins = {name: name for name in _SAME_NAME}
    twins["dqn"] = "recommended"
    single = best_single_action(record)
    if single is not None:
        twins["best_single_action"] = single
    cheapest = cheapest_contact(cost_shares, record.tried)
    if cheapest is not None:
        twins["always_email"] = f"always:{record.action_names[cheapest]}"
    ordered = [name for name in _CERTIFIED_ORDER if name in certified]
    ordered += sorted(name for name in certified if name not in _CERTIFIED_ORDER)
    rows = [Valuations(name, certified[name], by_name.get(twins.get(name, ""))) for name in ordered]
    paired = {row.off_policy.name for row in rows if row.off_policy is not None}
    rows += [
        Valuations(policy.name, None, policy)
        for policy in record.off_policy.policies
        if policy.name not in paired
    ]
    return rows

"""The checks every policy setting passes, naming the key and the allowed values.

Each settings record (`Action`, `ActionCatalog`, `SimulatorSettings`, `DQNConfig`) checks its own
fields with these when it is made, so a `--policy-config` file and a bundle's settings pass the
same checks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class SettingError(ValueError):
    """A policy setting outside its allowed values: `<key> is <value>, allowed <range>`, one line.

    `key` names the setting as the TOML file and bundle.json spell it, e.g. `simulator.recency[2]`.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class Allowed:
    """The values a numeric setting may take: a finite number (a whole one if `whole`) from `low`
    to `high`, each end excluded if `*_open`. With `count`, a list of `count` such numbers."""

    low: float
    high: float
    whole: bool = False
    low_open: bool = False
    high_open: bool = False
    count: tuple[int, int] | None = None

    def __str__(self) -> str:
        kind = "a whole number " if self.whole else ""
        low = "<" if self.low_open else "<="
        high = "<" if self.high_open else "<="
        return f"{kind}{_bound(self.low)} {low} x {high} {_bound(self.high)}"

    def check(self, key: str, value: object) -> None:
        """Raise a SettingError naming `key` unless `value` is allowed."""
        if self.count is None:
            if not self._fits(value):
                raise SettingError(key, f"is {shown(value)}, allowed {self}")
            return
        fewest, most = self.count
        how_many = f"exactly {fewest}" if fewest == most else f"{fewest} to {most}"
        if not isinstance(value, list | tuple):
            raise SettingError(key, f"is {shown(value)}, allowed a list of {how_many} numbers")
        if not fewest <= len(value) <= most:
            raise SettingError(key, f"has {len(value)} values, allowed {how_many}")
        single = dataclasses.replace(self, count=None)
        for index, item in enumerate(value):
            single.check(f"{key}[{index}]", item)

    def _fits(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if isinstance(value, float) and not (math.isfinite(value) and not self.whole):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below


def allowed(
    low: float,
    high: float,
    *,
    whole: bool = False,
    low_open: bool = False,
    high_open: bool = False,
    count: tuple[int, int] | None = None,
) -> dict[str, Allowed]:
    """Field metadata for `check_fields`: `field(default=..., metadata=allowed(0, 1))`."""
    return {"allowed": Allowed(low, high, whole, low_open, high_open, count)}


def check_fields(record: DataclassInstance, table: str) -> None:
    """Check every field of a settings record against the `allowed(...)` in its metadata."""
    for item in dataclasses.fields(record):
        item.metadata["allowed"].check(f"{table}.{item.name}", getattr(record, item.name))


def shown(value: object) -> str:
    """A value as an error message shows it: on one line, short, in the TOML/JSON spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else "a number too large to show"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "...")
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))

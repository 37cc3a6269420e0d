"""Policy settings: the action catalog, the simulator's assumptions and the DQN's hyper-parameters.

`train --policy-config FILE` reads a TOML file with up to three tables, each overriding fields of
one dataclass by name:

    [catalog]            # ActionCatalog
    cost_shares = [0.0, 0.01, 0.02, 0.10, 0.20, 0.35]
    [simulator]          # SimulatorSettings
    margin = 0.4
    [dqn]                # DQNConfig
    iterations = 4000
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aura_sentinel.errors import UsageError
from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.retention.dqn import DQNConfig
from aura_sentinel.retention.simulator import SimulatorSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Settings = TypeVar("Settings", ActionCatalog, SimulatorSettings, DQNConfig)


@dataclass(frozen=True)
class PolicySettings:
    catalog: ActionCatalog = field(default_factory=ActionCatalog)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    dqn: DQNConfig = field(default_factory=DQNConfig)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {
            "catalog": dataclasses.asdict(self.catalog),
            "simulator": dataclasses.asdict(self.simulator),
            "dqn": dataclasses.asdict(self.dqn),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> PolicySettings:
        unknown = sorted(set(data) - {"catalog", "simulator", "dqn"})
        if unknown:
            raise UsageError(
                source,
                f"unknown table [{unknown[0]}]",
                "use the tables [catalog], [simulator] and [dqn]",
            )
        try:
            return cls(
                catalog=_override(ActionCatalog(), data.get("catalog", {}), source, "catalog"),
                simulator=_override(
                    SimulatorSettings(), data.get("simulator", {}), source, "simulator"
                ),
                dqn=_override(DQNConfig(), data.get("dqn", {}), source, "dqn"),
            )
        except ValueError as exc:
            raise UsageError(source, str(exc), "correct the policy settings") from exc


def load_policy_config(path: Path | None) -> PolicySettings:
    """The defaults, overridden by the TOML file at `path` when one is given."""
    if path is None:
        return PolicySettings()
    if not path.is_file():
        raise UsageError(str(path), "no such file", "give the path of a TOML policy config")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(str(path), f"is not valid TOML ({exc})", "fix the file") from exc
    return PolicySettings.from_json(data, str(path))


def _override(defaults: Settings, values: object, source: str, table: str) -> Settings:
    if not isinstance(values, dict):
        raise UsageError(source, f"[{table}] is not a table", f"write it as [{table}]")
    known = {item.name: getattr(defaults, item.name) for item in dataclasses.fields(defaults)}
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise UsageError(
                source, f"[{table}] has no setting '{name}'", f"use one of: {', '.join(known)}"
            )
        changes[name] = _typed_like(known[name], value, source, f"{table}.{name}")
    return dataclasses.replace(defaults, **changes)


def _typed_like(default: object, value: object, source: str, name: str) -> object:
    """`value` converted to the type of `default`, or a UsageError naming the setting."""
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            raise UsageError(source, f"{name} must be a list", "write it as [a, b, ...]")
        items = (
            [_typed_like(default[0], item, source, name) for item in value] if default else value
        )
        return tuple(items)
    if isinstance(default, bool | str):
        if type(value) is not type(default):
            raise UsageError(source, f"{name} must be a {type(default).__name__}", "fix the value")
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise UsageError(source, f"{name} must be a whole number", "fix the value")
        return value
    if isinstance(default, float):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise UsageError(source, f"{name} must be a number", "fix the value")
        return float(value)
    return value

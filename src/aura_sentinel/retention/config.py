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
from aura_sentinel.retention.simulator import Simulator, SimulatorSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class DQNConfig:
    """Hyper-parameters of the retention DQN."""

    hidden: int = 128
    """Width of each hidden layer."""
    learning_rate: float = 3e-3
    """Adam step size at the start; it decays linearly to `final_learning_rate_share` of this."""
    final_learning_rate_share: float = 0.02
    """Share of the step size left at the last TD step: a small final step averages out the
    noise of sampled batches, so the last weights are precise enough to separate close actions."""
    iterations: int = 10_000
    """Loop iterations: each steps every parallel customer once and takes one TD step. Many
    small TD steps beat fewer large ones here: accuracy grows with the number of steps."""
    parallel_customers: int = 256
    """Simulated customers stepped together each iteration."""
    batch_size: int = 512
    """Transitions per TD step."""
    buffer_size: int = 400_000
    """Replay buffer capacity (transitions)."""
    learning_starts: int = 50
    """Iterations of pure collection before the first TD step."""
    target_update_interval: int = 200
    """TD steps between copies of the online network into the target network."""
    epsilon_start: float = 1.0
    """Exploration rate at the start (share of random actions)."""
    epsilon_end: float = 0.1
    """Exploration rate after the decay."""
    epsilon_decay_fraction: float = 0.5
    """Share of training over which exploration decays linearly."""
    restart_probability: float = 0.05
    """Chance per month that a simulated customer is replaced by a fresh one in a random
    controllable state, so that training covers every reachable state, not one trajectory."""
    seed: int = 42
    """Seed for the network, exploration and sampling: same data and seed, same weights."""


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


def simulator_for(settings: PolicySettings) -> Simulator:
    return Simulator(settings=settings.simulator, catalog=settings.catalog)


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

"""Policy settings: the action catalog, the simulator's assumptions and the DQN's hyper-parameters.

`train --policy-config FILE` reads a TOML file with up to three tables, each overriding settings
by name; bundle.json stores the same three tables, and both are read by `PolicySettings.from_json`:

    [catalog]            # the actions (`Action` records), as lists indexed by action id
    names = ["No action", "Send email", ...]
    cost_shares = [0.0, 0.01, 0.02, 0.10, 0.20, 0.35]
    [simulator]          # SimulatorSettings, plus the actions' effects and discount flags
    action_effects = [0.0, 0.04, 0.07, 0.18, 0.30, 0.50]
    discount_actions = [3, 4, 5]
    margin = 0.4
    [dqn]                # DQNConfig
    iterations = 4000
    [columns]            # the table's column for a state field (`train --column`), file only
    tenure = "Tenure Months"

Every record checks its own fields when it is made; a setting outside its allowed values is a
UsageError naming the key: `simulator.action_effects[2] is nan, allowed 0 <= x < 1`.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aura_sentinel.errors import UsageError
from aura_sentinel.retention.catalog import Action, ActionCatalog, check_action_count
from aura_sentinel.retention.checks import Allowed, SettingError, allowed, check_fields, shown
from aura_sentinel.retention.simulator import Simulator, SimulatorSettings
from aura_sentinel.retention.state import check_column_roles

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_ITERATIONS = 1_000_000
MAX_BATCH = 16_384
"""Bounds the TD batch and the customers stepped together (activations of batch x hidden)."""
MAX_BUFFER = 5_000_000
"""Replay buffer rows of 21 float32: at most 420 MB."""
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class DQNConfig:
    """Hyper-parameters of the retention DQN; each field states the values it allows."""

    hidden: int = field(default=128, metadata=allowed(1, 4096, whole=True))
    """Width of each hidden layer."""
    learning_rate: float = field(default=3e-3, metadata=allowed(0, 1, low_open=True))
    """Adam step size at the start; it decays linearly to `final_learning_rate_share` of this."""
    final_learning_rate_share: float = field(default=0.02, metadata=allowed(0, 1))
    """Share of the step size left at the last TD step: a small final step averages out the
    noise of sampled batches, so the last weights are precise enough to separate close actions."""
    iterations: int = field(default=10_000, metadata=allowed(1, MAX_ITERATIONS, whole=True))
    """Loop iterations: each steps every parallel customer once and takes one TD step. Many
    small TD steps beat fewer large ones here: accuracy grows with the number of steps."""
    parallel_customers: int = field(default=256, metadata=allowed(1, MAX_BATCH, whole=True))
    """Simulated customers stepped together each iteration (at most `buffer_size`)."""
    batch_size: int = field(default=512, metadata=allowed(1, MAX_BATCH, whole=True))
    """Transitions per TD step."""
    buffer_size: int = field(default=400_000, metadata=allowed(1, MAX_BUFFER, whole=True))
    """Replay buffer capacity (transitions); at least `batch_size` and `parallel_customers`."""
    learning_starts: int = field(default=50, metadata=allowed(0, MAX_ITERATIONS, whole=True))
    """Iterations of pure collection before the first TD step (fewer than `iterations`)."""
    target_update_interval: int = field(
        default=200, metadata=allowed(1, MAX_ITERATIONS, whole=True)
    )
    """TD steps between copies of the online network into the target network."""
    epsilon_start: float = field(default=1.0, metadata=allowed(0, 1))
    """Exploration rate at the start (share of random actions)."""
    epsilon_end: float = field(default=0.1, metadata=allowed(0, 1))
    """Exploration rate after the decay."""
    epsilon_decay_fraction: float = field(default=0.5, metadata=allowed(0, 1))
    """Share of training over which exploration decays linearly."""
    restart_probability: float = field(default=0.05, metadata=allowed(0, 1))
    """Chance per month that a simulated customer is replaced by a fresh one in a random
    controllable state, so that training covers every reachable state, not one trajectory."""
    seed: int = field(default=42, metadata=allowed(0, MAX_SEED, whole=True))
    """Seed for the network, exploration and sampling: same data and seed, same weights."""

    def __post_init__(self) -> None:
        check_fields(self, "dqn")
        at_least = max(self.batch_size, self.parallel_customers)
        if self.buffer_size < at_least:
            raise SettingError(
                "dqn.buffer_size",
                f"is {self.buffer_size}, allowed {at_least} <= x <= {MAX_BUFFER} "
                "(at least batch_size and parallel_customers)",
            )
        if self.learning_starts >= self.iterations:
            raise SettingError(
                "dqn.learning_starts",
                f"is {self.learning_starts}, allowed 0 <= x <= {self.iterations - 1} "
                "(fewer than iterations, or the network never learns)",
            )


Settings = TypeVar("Settings", SimulatorSettings, DQNConfig)

# Where each field of an `Action` is stored: in lists indexed by action id, in two tables.
ACTION_KEYS = {
    "name": "catalog.names[{}]",
    "cost_share": "catalog.cost_shares[{}]",
    "effect": "simulator.action_effects[{}]",
    "discount": "simulator.discount_actions",
}


@dataclass(frozen=True)
class PolicySettings:
    catalog: ActionCatalog = field(default_factory=ActionCatalog)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    dqn: DQNConfig = field(default_factory=DQNConfig)

    def to_json(self) -> dict[str, dict[str, Any]]:
        return {
            "catalog": self.catalog.to_json(),
            "simulator": {
                **dataclasses.asdict(self.simulator),
                "action_effects": self.catalog.effects,
                "discount_actions": self.catalog.discount_ids,
            },
            "dqn": dataclasses.asdict(self.dqn),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str) -> PolicySettings:
        """The defaults overridden by `data` (a TOML file's or bundle.json's tables), checked."""
        if not isinstance(data, dict):
            raise UsageError(source, f"the policy settings are {shown(data)}", "give a table")
        unknown = sorted(set(data) - {"catalog", "simulator", "dqn"})
        if unknown:
            raise UsageError(
                source,
                f"unknown table [{unknown[0]}]",
                "use the tables [catalog], [simulator] and [dqn]",
            )
        catalog_table = _table(data, "catalog", source, {"names", "cost_shares"})
        simulator_keys = {item.name for item in dataclasses.fields(SimulatorSettings)}
        simulator_table = _table(
            data, "simulator", source, simulator_keys | {"action_effects", "discount_actions"}
        )
        dqn_keys = {item.name for item in dataclasses.fields(DQNConfig)}
        dqn_table = _table(data, "dqn", source, dqn_keys)
        try:
            return cls(
                catalog=_catalog(catalog_table, simulator_table),
                simulator=_override(
                    SimulatorSettings(),
                    {key: value for key, value in simulator_table.items() if key in simulator_keys},
                ),
                dqn=_override(DQNConfig(), dqn_table),
            )
        except SettingError as exc:
            raise UsageError(source, str(exc), "fix the policy settings") from exc


def simulator_for(settings: PolicySettings, tried: tuple[bool, ...] | None = None) -> Simulator:
    """The simulator of these settings; `tried` when the effects are learned (`Simulator.tried`)."""
    return Simulator(settings=settings.simulator, catalog=settings.catalog, tried=tried)


MAX_CONFIG_BYTES = 1 << 20


@dataclass(frozen=True)
class PolicyFile:
    """A policy config file: its settings, and the column map of its [columns] table (state
    field -> the table's column, as `train --column` gives it)."""

    settings: PolicySettings = field(default_factory=PolicySettings)
    columns: dict[str, str] = field(default_factory=dict)


def load_policy_config(path: Path | None) -> PolicySettings:
    """The defaults, overridden by the TOML file at `path` when one is given."""
    return load_policy_file(path).settings


def load_policy_file(path: Path | None) -> PolicyFile:
    """The settings (defaults overridden by the TOML file at `path`) and its column map."""
    if path is None:
        return PolicyFile()
    if not path.exists():
        raise UsageError(str(path), "no such file", "give the path of a TOML policy config")
    if not path.is_file():
        raise UsageError(str(path), "is not a regular file", "give the path of a TOML file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise UsageError(
            str(path), "is too large for a policy config (over 1 MB)", "give the TOML settings file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(str(path), f"is not valid TOML ({message})", "fix the file") from exc
    columns = data.pop("columns", {})
    if not isinstance(columns, dict):
        raise UsageError(
            str(path), f"[columns] is {shown(columns)}", "write it as a table [columns]"
        )
    for role, name in columns.items():
        if not isinstance(name, str):
            raise UsageError(
                str(path), f"[columns] {role} is {shown(name)}", "give the column's name as text"
            )
    check_column_roles(columns, f"{path} [columns]")
    return PolicyFile(PolicySettings.from_json(data, str(path)), columns)


def _table(data: dict[str, Any], table: str, source: str, known: set[str]) -> dict[str, Any]:
    values = data.get(table, {})
    if not isinstance(values, dict):
        raise UsageError(source, f"[{table}] is {shown(values)}", f"write it as a table [{table}]")
    for name in values:
        if name not in known:
            raise UsageError(
                source,
                f"[{table}] has no setting '{name}'",
                f"use one of: {', '.join(sorted(known))}",
            )
    return values


def _override(defaults: Settings, values: dict[str, Any]) -> Settings:
    """`defaults` with the given fields replaced; the record's own checks judge the values."""
    changes: dict[str, Any] = {
        name: _converted(getattr(defaults, name), value) for name, value in values.items()
    }
    return dataclasses.replace(defaults, **changes)


def _catalog(catalog: dict[str, Any], simulator: dict[str, Any]) -> ActionCatalog:
    """The catalog from its lists indexed by action id; any list not given keeps the default."""
    default = ActionCatalog()
    names = _list(catalog, "catalog", "names", default.names, "action names")
    check_action_count(len(names))
    shares = _list(catalog, "catalog", "cost_shares", default.cost_shares, "numbers")
    effects = _list(simulator, "simulator", "action_effects", default.effects, "numbers")
    for key, values in (("catalog.cost_shares", shares), ("simulator.action_effects", effects)):
        if len(values) != len(names):
            raise SettingError(
                key,
                f"has {len(values)} values, allowed one per action in catalog.names ({len(names)})",
            )
    discount_ids = _discount_ids(
        _list(simulator, "simulator", "discount_actions", default.discount_ids, "action ids"),
        len(names),
    )
    return ActionCatalog(
        tuple(
            _action(index, names[index], shares[index], effects[index], index in discount_ids)
            for index in range(len(names))
        )
    )


def _list(
    table: dict[str, Any], table_name: str, name: str, default: tuple[Any, ...], items: str
) -> tuple[Any, ...]:
    values = _converted(default, table.get(name, default))
    if not isinstance(values, tuple):
        raise SettingError(f"{table_name}.{name}", f"is {shown(values)}, allowed a list of {items}")
    return values


def _discount_ids(ids: tuple[Any, ...], actions: int) -> set[int]:
    valid = Allowed(1, actions - 1, whole=True)
    for index, action_id in enumerate(ids):
        key = f"simulator.discount_actions[{index}]"
        valid.check(key, action_id)
        if action_id in ids[:index]:
            raise SettingError(key, f"repeats {action_id}, allowed each action id once")
    return set(ids)


def _action(index: int, name: object, share: object, effect: object, discount: bool) -> Action:
    try:
        return Action(name, share, effect, discount)  # type: ignore[arg-type]  # checked there
    except SettingError as exc:
        raise SettingError(ACTION_KEYS[exc.key].format(index), exc.problem) from None


def _converted(default: object, value: object) -> object:
    """`value` in the type of `default` where no information is lost (a whole number for a
    float setting, a list for a tuple one); anything else is left for the record to judge."""
    if isinstance(default, tuple) and isinstance(value, list | tuple):
        return tuple(_converted(default[0] if default else None, item) for item in value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return value
    return value

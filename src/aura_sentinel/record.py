"""The run record: what a scoring run knew that its results file cannot hold.

`score` writes it next to the results as `<results name>.json`: the bundle it used, the risk
thresholds, the budget, and aggregates over all customers (the mean absolute contribution of
every feature, unseen category levels, each column's drift from its training distribution, the
state inputs outside the training range). `report` reads it, every field checked by the same
rules `write_record` applies. The record names the size and row count of its results file, so a
record left over from another run is recognised and ignored; so is a record with a bad field.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RECORD_VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class RunRecord:
    results_bytes: int
    customers: int
    data: str
    models: str
    bundle_sha256: str
    """SHA-256 of the bundle's bundle.json, which itself holds the hashes of the model files."""
    high: float
    medium: float
    explain: bool
    budget: float | None
    unconstrained_cost: float
    """Spend of the policy's own choices, before any budget."""
    unconstrained_gain: float
    driver_weight: dict[str, float] = field(default_factory=dict)
    """Mean absolute contribution to the log-odds per feature; empty with --no-explain."""
    unseen_levels: dict[str, int] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)
    """Population stability index per column (a feature, or "state:<field>"), see drift.py."""
    out_of_range: dict[str, int] = field(default_factory=dict)
    """Rows outside the training range, per state field."""
    version: int = RECORD_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> RunRecord:
        """The record in `data` (parsed JSON); ValueError naming the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("is not a JSON object")
        unknown = sorted(set(data) - set(_RULES))
        if unknown:
            raise ValueError(f"has an unknown field '{unknown[0]}'")
        for name, (check, wanted) in _RULES.items():
            if name not in data:
                raise ValueError(f"lacks the field '{name}'")
            if not check(data[name]):
                raise ValueError(f"field '{name}' is {_shown(data[name])}, not {wanted}")
        if data["medium"] > data["high"]:
            raise ValueError("field 'medium' is above field 'high'")
        checked: dict[str, Any] = {name: data[name] for name in _RULES}
        checked.update({name: float(data[name]) for name in _FLOATS})
        return cls(**checked)


def _whole(value: object, low: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value: object, low: float = -math.inf, high: float = math.inf) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def _text(value: object) -> bool:
    return isinstance(value, str)


def _mapping(value: object, check: Any) -> bool:
    return isinstance(value, dict) and all(check(item) for item in value.values())


_RULES: dict[str, tuple[Any, str]] = {
    "results_bytes": (_whole, "a whole number of 0 or more"),
    "customers": (_whole, "a whole number of 0 or more"),
    "data": (_text, "a text"),
    "models": (_text, "a text"),
    "bundle_sha256": (lambda v: isinstance(v, str) and _SHA256.fullmatch(v), "a SHA-256 in hex"),
    "high": (lambda v: _number(v, 0, 1), "a number from 0 to 1"),
    "medium": (lambda v: _number(v, 0, 1), "a number from 0 to 1"),
    "explain": (lambda v: isinstance(v, bool), "true or false"),
    "budget": (lambda v: v is None or _number(v, 0), "null or a number of 0 or more"),
    "unconstrained_cost": (lambda v: _number(v, 0), "a number of 0 or more"),
    "unconstrained_gain": (_number, "a finite number"),
    "driver_weight": (
        lambda v: _mapping(v, lambda item: _number(item, 0)),
        "an object of numbers of 0 or more",
    ),
    "unseen_levels": (lambda v: _mapping(v, _whole), "an object of whole numbers of 0 or more"),
    "drift": (
        lambda v: _mapping(v, lambda item: _number(item, 0)),
        "an object of numbers of 0 or more",
    ),
    "out_of_range": (lambda v: _mapping(v, _whole), "an object of whole numbers of 0 or more"),
    "version": (lambda v: v == RECORD_VERSION, f"{RECORD_VERSION} (unknown version)"),
}
_FLOATS = ("high", "medium", "unconstrained_cost", "unconstrained_gain")


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def record_path(results: Path) -> Path:
    return results.with_name(results.name + ".json")


def write_record(target: Path, record: RunRecord) -> None:
    """Write the record to `target` (the caller makes the write atomic, with the results)."""
    data = record.to_json()
    RunRecord.from_json(data)  # written by the rules it is read with: a failure here is a bug
    text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    target.write_text(text, encoding="utf-8")


def read_record(results: Path) -> tuple[RunRecord | None, str | None]:
    """The record of `results`, or None and the reason it cannot be used."""
    path = record_path(results)
    if not path.is_file():
        return None, f"no run record ({path.name}) next to the results"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None, f"run record {path.name} cannot be read; ignored"
    if isinstance(data, dict) and data.get("version") != RECORD_VERSION:
        return None, f"run record {path.name} has an unknown version; ignored"
    try:
        record = RunRecord.from_json(data)
    except ValueError as problem:
        return None, f"run record {path.name} {problem}; ignored"
    if record.results_bytes != results.stat().st_size:
        return None, f"run record {path.name} belongs to another run of this file name; ignored"
    return record, None

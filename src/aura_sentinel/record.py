"""The run record: what a scoring run knew that its results file cannot hold.

`score` writes it next to the results as `<results name>.json`: the bundle it used, the risk
thresholds, the budget, and aggregates over all customers (the mean absolute contribution of
every feature, unseen category levels). `report` reads it. The record names the size and row
count of its results file, so a record left over from another run is recognised and ignored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aura_sentinel.io import atomic_write

RECORD_VERSION = 1


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
    version: int = RECORD_VERSION


def record_path(results: Path) -> Path:
    return results.with_name(results.name + ".json")


def write_record(results: Path, record: RunRecord) -> None:
    text = json.dumps(asdict(record), indent=2, sort_keys=True) + "\n"

    def write(target: Path) -> None:
        target.write_text(text, encoding="utf-8")

    atomic_write(record_path(results), write)


def read_record(results: Path) -> tuple[RunRecord | None, str | None]:
    """The record of `results`, or None and the reason it cannot be used."""
    path = record_path(results)
    if not path.is_file():
        return None, f"no run record ({path.name}) next to the results"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != RECORD_VERSION:
            return None, f"run record {path.name} has an unknown version; ignored"
        record = RunRecord(**data)
    except (OSError, ValueError, TypeError):
        return None, f"run record {path.name} cannot be read; ignored"
    if record.results_bytes != results.stat().st_size:
        return None, f"run record {path.name} belongs to another run of this file name; ignored"
    return record, None

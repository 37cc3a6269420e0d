"""One JSON object of a stored record (bundle.json), read key by key with every value checked.

A wrong or missing value, or a key the format does not have, is a BundleError naming its full
key, so a damaged or hand-edited file is refused with the field at fault.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

from aura_sentinel.errors import BundleError

RETRAIN = "retrain with `aura-sentinel train` or restore the bundle"
SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_COUNT = 10**12  # rows, trees, leaves: far above any real bundle, far below an overflow


class JsonEntry:
    """One JSON object of bundle.json, read key by key: a wrong or missing value, or a key the
    format does not have, is a BundleError naming its full key (e.g. `policy.settings.dqn`)."""

    def __init__(self, data: object, key: str, source: str) -> None:
        self.key = key
        self.source = source
        if not isinstance(data, dict):
            raise self._error(f"{key} is {shown_value(data)}, not an object")
        self.data: dict[str, Any] = data
        self._read: set[str] = set()

    def problem(self, name: str, problem: str) -> BundleError:
        return self._error(f"{self._path(name)} {problem}")

    def has(self, name: str) -> bool:
        return name in self.data

    def done(self) -> None:
        """Refuse keys that were not read: the format has no such field."""
        unknown = sorted(set(self.data) - self._read)
        if unknown:
            raise self._error(f"{self._path(unknown[0])} is not a field of bundle.json")

    def entry(self, name: str) -> JsonEntry:
        return JsonEntry(self._value(name), self._path(name), self.source)

    def optional_entry(self, name: str) -> JsonEntry | None:
        """The object under `name`, or None when it is null (the key must be there)."""
        return None if self._value(name) is None else self.entry(name)

    def entries(self, name: str, minimum: int = 0) -> list[JsonEntry]:
        items = self._list(name, minimum)
        return [
            JsonEntry(item, f"{self._path(name)}[{index}]", self.source)
            for index, item in enumerate(items)
        ]

    def text(
        self, name: str, allowed: tuple[str, ...] = (), pattern: re.Pattern[str] | None = None
    ) -> str:
        value = self._value(name)
        if not isinstance(value, str) or not value:
            raise self.problem(name, f"is {shown_value(value)}, not a text")
        if allowed and value not in allowed:
            raise self.problem(name, f"is {shown_value(value)}, allowed {', '.join(allowed)}")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.problem(name, f"is {shown_value(value)}, not a SHA-256 in hex")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self._value(name) is None else self.text(name)

    def boolean(self, name: str) -> bool:
        value = self._value(name)
        if not isinstance(value, bool):
            raise self.problem(name, f"is {shown_value(value)}, not true or false")
        return value

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        return None if self._value(name) is None else self.integer(name, low, high)

    def texts(self, name: str) -> list[str]:
        items = self._list(name)
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self.problem(f"{name}[{index}]", f"is {shown_value(item)}, not a text")
        return [str(item) for item in items]

    def integer(self, name: str, low: int, high: int) -> int:
        return self._whole(self._value(name), name, low, high)

    def integers(self, name: str, low: int, high: int) -> list[int]:
        items = self._list(name)
        return [self._whole(item, f"{name}[{i}]", low, high) for i, item in enumerate(items)]

    def number(self, name: str, low: float, high: float, low_open: bool = False) -> float:
        return self._number(self._value(name), name, low, high, low_open)

    def optional_number(self, name: str, low: float, high: float) -> float | None:
        return None if self._value(name) is None else self.number(name, low, high)

    def list_of(self, name: str) -> list[Any]:
        return self._list(name)

    def number_rows(self, name: str, low: float, high: float) -> list[list[float]]:
        """A list of lists of numbers, each checked, e.g. `offsets[2][1]` named when wrong."""
        rows = []
        for index, row in enumerate(self._list(name)):
            key = f"{name}[{index}]"
            if not isinstance(row, list):
                raise self.problem(key, f"is {shown_value(row)}, not a list")
            rows.append(
                [self._number(item, f"{key}[{i}]", low, high) for i, item in enumerate(row)]
            )
        return rows

    def numbers(self, name: str, low: float, high: float) -> list[float]:
        items = self._list(name)
        return [self._number(item, f"{name}[{i}]", low, high) for i, item in enumerate(items)]

    def number_map(
        self, name: str, low: float, high: float, keys: Collection[str]
    ) -> dict[str, float]:
        inner = self.entry(name)
        for key in keys:
            if key not in inner.data:
                raise inner.problem(key, "is missing")
        values = {key: inner.number(key, low, high) for key in keys}
        inner.done()
        return values

    def check_finite(self) -> None:
        """Refuse NaN and infinity anywhere inside this object (JSON `NaN` literals)."""
        found = _non_finite(self.data, self.key)
        if found is not None:
            raise self._error(f"{found[0]} is {shown_value(found[1])}, not a finite number")

    def require_keys(self, complete: dict[str, Any]) -> None:
        """Refuse an object lacking any key of `complete`: a default must never stand in."""
        for path, _ in _leaves(complete, self.key):
            node: Any = self.data
            for part in path[len(self.key) + 1 :].split("."):
                if not isinstance(node, dict) or part not in node:
                    raise self._error(f"{path} is missing")
                node = node[part]

    def _value(self, name: str) -> Any:
        if name not in self.data:
            raise self.problem(name, "is missing")
        self._read.add(name)
        return self.data[name]

    def _list(self, name: str, minimum: int = 0) -> list[Any]:
        value = self._value(name)
        if not isinstance(value, list):
            raise self.problem(name, f"is {shown_value(value)}, not a list")
        if len(value) < minimum:
            raise self.problem(name, "is an empty list")
        return value

    def _whole(self, value: object, name: str, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.problem(name, f"is {shown_value(value)}, not a whole number")
        if not low <= value <= high:
            raise self.problem(name, f"is {value}, allowed {_range(low, high)}")
        return value

    def _number(
        self, value: object, name: str, low: float, high: float, low_open: bool = False
    ) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.problem(name, f"is {shown_value(value)}, not a number")
        if not math.isfinite(value):
            raise self.problem(name, f"is {shown_value(value)}, not a finite number")
        if not (low < value if low_open else low <= value) or value > high:
            raise self.problem(name, f"is {value}, allowed {_range(low, high, low_open)}")
        return float(value)

    def _path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def _error(self, problem: str) -> BundleError:
        return BundleError(self.source, problem, RETRAIN)


def _range(low: float, high: float, low_open: bool = False) -> str:
    if low_open:
        return f"above {low:g} up to {high:g}"
    if high == math.inf:
        return f"{low:g} or more"
    return f"{low:g}-{high:g}"


def _leaves(data: object, path: str) -> list[tuple[str, object]]:
    """(dotted key, value) of every value that is not an object, in document order."""
    if not isinstance(data, dict):
        return [(path, data)]
    found: list[tuple[str, object]] = []
    for key, value in data.items():
        found += _leaves(value, f"{path}.{key}" if path else str(key))
    return found


def _non_finite(data: object, path: str) -> tuple[str, float] | None:
    """The key and value of the first NaN or infinity inside `data`, or None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        found = _non_finite(value, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
        if found is not None:
            return found
    return None


def shown_value(value: object) -> str:
    """A value as JSON, short (a hand-edited file may hold anything)."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    text = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}.get(text, text)
    return text if len(text) <= 40 else text[:37] + "..."

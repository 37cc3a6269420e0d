"""The bundle's record of the learned effects: what was learned, from which log, how well.

Stored in bundle.json under "effects" (the effect models themselves are XGBoost files beside it,
hashed like every artifact). Parsed back field by field with every value checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aura_sentinel.effects.calibration import EffectClipping
from aura_sentinel.effects.inference import EffectEstimate
from aura_sentinel.effects.learners import LEARNERS
from aura_sentinel.effects.offpolicy import (
    ESTIMATORS,
    METRICS,
    Estimate,
    OffPolicyTable,
    PolicyValue,
)
from aura_sentinel.effects.propensity import PropensityDiagnostics
from aura_sentinel.effects.shrinkage import Shrinkage
from aura_sentinel.effects.start import ChurnStart
from aura_sentinel.features import FeatureSpec
from aura_sentinel.json_entry import MAX_COUNT, SHA256, JsonEntry, shown_value
from aura_sentinel.retention.catalog import MAX_ACTIONS, MIN_ACTIONS

CELL_FIELDS = ("contract", "tenure")
CONTROLLABLE = ("recent_interventions", "days_since_contact")


FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LogFingerprint:
    """The campaign log the effects were learned from."""

    file: str
    rows: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "sha256": self.sha256}


@dataclass(frozen=True)
class EffectsRecord:
    log: LogFingerprint
    horizon_months: float
    """The log's outcome window: churn within this many months of the action."""
    action_column: str
    """The log's column that held the actions (`score` copies it as LoggedAction)."""
    action_names: tuple[str, ...]
    """The catalog's action names, by action id."""
    action_rows: tuple[int, ...]
    """Logged rows per action id."""
    tried: tuple[bool, ...]
    """False for an action with too little data: never recommended ("not tried")."""
    features: FeatureSpec
    """The effect models' features (the log's own columns)."""
    propensity: PropensityDiagnostics
    learner: str
    """The learner chosen (one of LEARNERS)."""
    criteria: dict[str, float]
    """Each learner's held-out doubly-robust uplift AUC, averaged over the tried actions and
    over the folds."""
    criteria_errors: dict[str, float]
    """The standard error of each criterion, from its spread over the folds."""
    shrinkage: Shrinkage
    """How each customer's estimated effect is pulled towards its cell's AIPW effect."""
    cell_fields: tuple[str, ...]
    """The state fields the shrinkage cells are made of ("contract", "tenure")."""
    average: tuple[EffectEstimate, ...]
    segments: tuple[EffectEstimate, ...]
    off_policy: OffPolicyTable
    controllable: tuple[str, ...]
    """The controllable state fields the log carries as features (else fatigue, recency and
    backlash stay the simulator's stated assumptions)."""
    recommended_share: float
    """Share of the log's customers the recommended one-step plan would contact."""
    calibration: EffectClipping
    """How many customers' learned effects the simulator cannot reproduce (outside its range)."""
    start: ChurnStart | None = None
    """What the learners' churn classifiers start from (the churn model's risk over the log's
    horizon, see `effects.start`); None: the log lacks the churn model's columns."""

    def starting_churn(self, churn_probability: npt.NDArray[np.floating[Any]]) -> FloatArray | None:
        """What the learners start from for customers of this churn probability (None: none)."""
        return None if self.start is None else self.start.apply(churn_probability)

    def planned_on(self) -> str:
        """What a policy trained with these effects rests on, in one sentence."""
        masked = [
            name for name, tried in zip(self.action_names, self.tried, strict=True) if not tried
        ]
        never = f"; not tried, so never recommended: {', '.join(masked)}" if masked else ""
        return (
            f"The DQN plans on the effects learned from the campaign log {self.log.file} "
            f"({self.log.rows:,} rows){never}. Fatigue, recency and backlash stay the "
            "simulator's stated assumptions."
        )

    def to_json(self) -> dict[str, Any]:
        rounded: dict[str, Any] = _rounded(self._json())
        return rounded

    def _json(self) -> dict[str, Any]:
        return {
            "log": self.log.to_json(),
            "horizon_months": self.horizon_months,
            "action_column": self.action_column,
            "action_names": list(self.action_names),
            "action_rows": list(self.action_rows),
            "tried": list(self.tried),
            "features": self.features.to_json(),
            "propensity": self.propensity.to_json(),
            "learner": self.learner,
            "criteria": {name: self.criteria[name] for name in LEARNERS},
            "criteria_errors": {name: self.criteria_errors[name] for name in LEARNERS},
            "shrinkage": self.shrinkage.to_json(),
            "cell_fields": list(self.cell_fields),
            "average": [estimate.to_json() for estimate in self.average],
            "segments": [estimate.to_json() for estimate in self.segments],
            "off_policy": self.off_policy.to_json(),
            "controllable": list(self.controllable),
            "recommended_share": self.recommended_share,
            "calibration": self.calibration.to_json(),
            "start": None if self.start is None else self.start.to_json(),
        }


def _rounded(data: Any) -> Any:
    """Every float to six decimals: the estimates are far less precise, and the same data and
    seed give the same bytes on every machine."""
    if isinstance(data, float):
        return round(data, 6)
    if isinstance(data, dict):
        return {key: _rounded(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_rounded(value) for value in data]
    return data


# ---- parsing "effects" of bundle.json, every field checked -------------------------------


def parse_effects(
    entry: JsonEntry, parse_features: Callable[[JsonEntry], FeatureSpec]
) -> EffectsRecord:
    entry.check_finite()
    log = entry.entry("log")
    fingerprint = LogFingerprint(
        file=log.text("file"),
        rows=log.integer("rows", 1, MAX_COUNT),
        sha256=log.text("sha256", pattern=SHA256),
    )
    log.done()
    tried = tuple(_booleans(entry, "tried"))
    actions = len(tried)
    if not MIN_ACTIONS <= actions <= MAX_ACTIONS or not tried[0]:
        raise entry.problem("tried", "does not list 2-16 actions with action 0 tried")
    action_rows = tuple(entry.integers("action_rows", 0, MAX_COUNT))
    _check_length(entry, "action_rows", action_rows, actions)
    action_names = tuple(entry.texts("action_names"))
    _check_length(entry, "action_names", action_names, actions)
    learner = entry.text("learner", allowed=LEARNERS)
    criteria = entry.number_map("criteria", -1e9, 1e9, LEARNERS)
    criteria_errors = entry.number_map("criteria_errors", 0, 1e9, LEARNERS)
    record = EffectsRecord(
        log=fingerprint,
        horizon_months=entry.number("horizon_months", 0, 120, low_open=True),
        action_column=entry.text("action_column"),
        action_names=action_names,
        action_rows=action_rows,
        tried=tried,
        features=parse_features(entry.entry("features")),
        propensity=_parse_propensity(entry.entry("propensity"), actions),
        learner=learner,
        criteria=criteria,
        criteria_errors=criteria_errors,
        shrinkage=_parse_shrinkage(entry.entry("shrinkage"), actions),
        cell_fields=tuple(_subset(entry, "cell_fields", CELL_FIELDS)),
        average=tuple(_parse_estimate(item, actions) for item in entry.entries("average")),
        segments=tuple(_parse_estimate(item, actions) for item in entry.entries("segments")),
        off_policy=_parse_off_policy(entry.entry("off_policy")),
        controllable=tuple(_subset(entry, "controllable", CONTROLLABLE)),
        recommended_share=entry.number("recommended_share", 0, 1),
        calibration=_parse_calibration(entry.entry("calibration"), actions),
        start=_parse_start(entry),
    )
    entry.done()
    return record


def _parse_start(entry: JsonEntry) -> ChurnStart | None:
    start = entry.optional_entry("start")
    if start is None:
        return None
    parsed = ChurnStart(
        power=start.number("power", 0, 120, low_open=True),
        intercept=start.number("intercept", -1e6, 1e6),
        slope=start.number("slope", -1e6, 1e6),
    )
    start.done()
    return parsed


def _booleans(entry: JsonEntry, name: str) -> list[bool]:
    values = entry.list_of(name)
    for index, value in enumerate(values):
        if not isinstance(value, bool):
            raise entry.problem(f"{name}[{index}]", f"is {shown_value(value)}, not true or false")
    return [bool(value) for value in values]


def _subset(entry: JsonEntry, name: str, allowed: tuple[str, ...]) -> list[str]:
    values = entry.texts(name)
    for index, value in enumerate(values):
        if value not in allowed or values.index(value) != index:
            raise entry.problem(
                f"{name}[{index}]",
                f"is {shown_value(value)}, not one of {', '.join(allowed)} (each once)",
            )
    return values


def _check_length(entry: JsonEntry, name: str, values: Sized, actions: int) -> None:
    if len(values) != actions:
        raise entry.problem(name, f"has {len(values)} values for {actions} actions")


def _parse_propensity(entry: JsonEntry, actions: int) -> PropensityDiagnostics:
    sizes = tuple(entry.numbers("effective_sample_size", 0, MAX_COUNT))
    _check_length(entry, "effective_sample_size", sizes, actions)
    diagnostics = PropensityDiagnostics(
        logged=entry.boolean("logged"),
        floor=entry.number("floor", 0, 1, low_open=True),
        clipped_rows=entry.integer("clipped_rows", 0, MAX_COUNT),
        effective_sample_size=sizes,
        largest_weight=entry.number("largest_weight", 0, 1e12),
        overlap=entry.number("overlap", 0, 1),
    )
    entry.done()
    return diagnostics


def _parse_shrinkage(entry: JsonEntry, actions: int) -> Shrinkage:
    slopes = tuple(entry.numbers("slopes", 0, 1))
    _check_length(entry, "slopes", slopes, actions)
    cells = tuple(entry.integers("cells", 0, 10**6))
    if list(cells) != sorted(set(cells)) or not cells:
        raise entry.problem("cells", "is not a list of ascending cell codes")
    offsets = []
    for index, row in enumerate(entry.number_rows("offsets", -1, 1)):
        if len(row) != actions:
            raise entry.problem(f"offsets[{index}]", f"has {len(row)} values for {actions} actions")
        offsets.append(tuple(row))
    if len(offsets) != len(cells):
        raise entry.problem("offsets", f"has {len(offsets)} rows for {len(cells)} cells")
    default = tuple(entry.numbers("default_offset", -1, 1))
    _check_length(entry, "default_offset", default, actions)
    entry.done()
    return Shrinkage(slopes, cells, tuple(offsets), default)


def _parse_calibration(entry: JsonEntry, actions: int) -> EffectClipping:
    rows = entry.integer("rows", 1, MAX_COUNT)
    above = tuple(entry.integers("above_max", 0, rows))
    below = tuple(entry.integers("below_min", 0, rows))
    _check_length(entry, "above_max", above, actions)
    _check_length(entry, "below_min", below, actions)
    entry.done()
    return EffectClipping(rows=rows, above_max=above, below_min=below)


def _parse_estimate(entry: JsonEntry, actions: int) -> EffectEstimate:
    estimate = EffectEstimate(
        action=entry.integer("action", 1, actions - 1),
        segment=entry.text("segment"),
        rows=entry.integer("rows", 1, MAX_COUNT),
        churn_no_action=entry.number("churn_no_action", -1e6, 1e6),
        churn_with_action=entry.number("churn_with_action", -1e6, 1e6),
        effect=entry.number("effect", -1e6, 1e6),
        low=entry.number("low", -1e6, 1e6),
        high=entry.number("high", -1e6, 1e6),
    )
    entry.done()
    return estimate


def _parse_interval(entry: JsonEntry) -> Estimate:
    values = [entry.optional_number(key, -1e12, 1e12) for key in ("estimate", "low", "high")]
    entry.done()
    estimate, low, high = (math.nan if value is None else value for value in values)
    return Estimate(estimate=estimate, low=low, high=high)


def _parse_off_policy(entry: JsonEntry) -> OffPolicyTable:
    policies = []
    for item in entry.entries("policies", minimum=1):
        by_metric = {}
        for metric in METRICS:
            inner = item.entry(metric)
            by_metric[metric] = {key: _parse_interval(inner.entry(key)) for key in ESTIMATORS}
            inner.done()
        policies.append(
            PolicyValue(
                name=item.text("name"),
                treated_share=item.number("treated_share", 0, 1),
                churn=by_metric["churn"],
                value=by_metric["value"],
            )
        )
        item.done()
    differences = entry.entry("differences")
    table = OffPolicyTable(
        policies=policies,
        differences={
            name: _parse_interval(differences.entry(name)) for name in list(differences.data)
        },
    )
    differences.done()
    entry.done()
    return table

"""The customer state: nine meaningful numbers per customer, built column-wise from a table.

| column | meaning | from (default column name) |
|---|---|---|
| churn_probability | chance of leaving within the churn horizon without action | the churn model |
| contract | 0 month-to-month, 1 one year, 2 two year | `Contract` (default 0) |
| internet_service | 0 none, 1 DSL, 2 fiber | `InternetService` (default 1) |
| tenure | months as a customer, 0-1200 | `tenure` (default 12) |
| monthly_charges | monthly bill | `MonthlyCharges` (default 1: values in months of bill) |
| recent_interventions | retention contacts lately, 0-100 | `recent_interventions` (default 0) |
| days_since_contact | days since the last contact, 0-3650 | `days_since_contact` (default 90) |
| response_rate | share of past offers the customer took up, 0-1 | `response_rate` (default prior) |
| engagement | share of the services the customer uses, 0-1 | `engagement`, else derived |

Which column each field is read from is a `StateSources` (the bundle's "column_map"), resolved
once from the training table by `resolve_state_sources`: a column the user names, else a column
whose name matches the default name or an alias once case, spaces, underscores and hyphens are
ignored (`Tenure Months` for tenure), else none (the default applies).

When the effects are learned from a campaign log (`train --campaigns`), the state carries one
more number per action but no action, after the nine: the customer's learned share of the monthly
hazard that action removes (`learned_effect_columns`, `with_learned_effects`). They are constants
per customer, so one network serves every customer and the exact optimum stays exact.

Nothing here is random: every number comes from the customer's data or a documented default.
A blank or NaN cell takes the default. Numbers are clipped to the meaningful range above, so
that every state is finite in float32 (1e308 or infinity included): a tenure beyond a hundred
years, more than a hundred recent contacts or a contact more than ten years ago count as those
bounds (the simulator itself counts only a few contacts and a few months since the last one).
Monthly charges are not clipped: `check_state_columns` refuses a negative, infinite or huge one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.features import LevelCodes
from aura_sentinel.schema import beyond_float32, number_fix, unusable_kind

STATE_COLUMNS = (
    "churn_probability",
    "contract",
    "internet_service",
    "tenure",
    "monthly_charges",
    "recent_interventions",
    "days_since_contact",
    "response_rate",
    "engagement",
)
(
    CHURN_PROBABILITY,
    CONTRACT,
    INTERNET,
    TENURE,
    MONTHLY_CHARGES,
    RECENT_INTERVENTIONS,
    DAYS_SINCE_CONTACT,
    RESPONSE_RATE,
    ENGAGEMENT,
) = range(len(STATE_COLUMNS))
LEARNED_EFFECTS = len(STATE_COLUMNS)
"""Where a state with learned effects carries them: one column per action but no action."""

StateMatrix = npt.NDArray[np.float32]


def learned_effect_columns(actions: int) -> tuple[str, ...]:
    """The names of the state's columns when it carries learned effects: the nine, then each
    action's learned share of the monthly hazard it removes (action 1 .. actions - 1)."""
    return STATE_COLUMNS + tuple(f"learned_effect_{action}" for action in range(1, actions))


def with_learned_effects(state: StateMatrix, shares: npt.NDArray[np.float64]) -> StateMatrix:
    """The state with each customer's learned effects (N x actions, column 0 no action, as
    `effects.calibration.hazard_effects` gives them) appended after the nine columns."""
    extended: StateMatrix = np.hstack([state[:, :LEARNED_EFFECTS], shares[:, 1:]]).astype(
        np.float32
    )
    return extended


# Each role read from the customer table, and its column's default name: the state fields,
# then the services whose "Yes" counts towards engagement when there is no engagement column.
SOURCE_COLUMNS = {
    "contract": "Contract",
    "internet_service": "InternetService",
    "tenure": "tenure",
    "monthly_charges": "MonthlyCharges",
    "recent_interventions": "recent_interventions",
    "days_since_contact": "days_since_contact",
    "response_rate": "response_rate",
    "engagement": "engagement",
    "phone_service": "PhoneService",
    "multiple_lines": "MultipleLines",
    "online_security": "OnlineSecurity",
    "online_backup": "OnlineBackup",
    "device_protection": "DeviceProtection",
    "tech_support": "TechSupport",
    "streaming_tv": "StreamingTV",
    "streaming_movies": "StreamingMovies",
}
STATE_ROLES = STATE_COLUMNS[CONTRACT:]  # the state fields read from the table
SERVICE_ROLES = tuple(role for role in SOURCE_COLUMNS if role not in STATE_ROLES)
ENGAGEMENT_SERVICES = tuple(SOURCE_COLUMNS[role] for role in SERVICE_ROLES)
# Other names public churn tables give these columns (compared as the default names are).
ALIASES = {
    "contract": ("Contract Type",),
    "internet_service": ("Internet Type",),
    "tenure": ("Tenure Months", "Tenure in Months"),
    "monthly_charges": ("Monthly Charge", "Monthly Bill"),
}
DEFAULT_TENURE = 12.0
DEFAULT_MONTHLY_CHARGES = 1.0
DEFAULT_DAYS_SINCE_CONTACT = 90.0
DEFAULT_ENGAGEMENT = 0.5
# The meaningful ranges of the state's numbers (see the table above).
MAX_TENURE_MONTHS = 1200.0
MAX_RECENT_INTERVENTIONS = 100.0
MAX_DAYS_SINCE_CONTACT = 3650.0


@dataclass(frozen=True)
class StateSources:
    """The table column each role is read from (every role of SOURCE_COLUMNS), None when the
    table has none and the default applies."""

    columns: dict[str, str | None]

    def column(self, role: str) -> str | None:
        return self.columns.get(role)

    @property
    def defaulted(self) -> tuple[str, ...]:
        """The state fields that take their default: engagement only when it has no column and
        no service or internet column to be derived from."""
        derived = any(self.column(role) for role in (*SERVICE_ROLES, "internet_service"))
        return tuple(
            role
            for role in STATE_ROLES
            if self.column(role) is None and not (role == "engagement" and derived)
        )

    @property
    def renamed(self) -> dict[str, str]:
        """The roles read from a column that does not have the default name."""
        return {
            role: name
            for role, name in self.columns.items()
            if name is not None and name != SOURCE_COLUMNS[role]
        }

    def within(self, present: Collection[str]) -> StateSources:
        """This map for a table with the columns `present`: a column it lacks is not read."""
        names = set(present)
        return StateSources(
            {role: name if name in names else None for role, name in self.columns.items()}
        )

    def missing_from(self, present: Collection[str]) -> dict[str, str]:
        """role -> column, for the columns this map reads that `present` lacks."""
        names = set(present)
        return {
            role: name
            for role, name in self.columns.items()
            if name is not None and name not in names
        }


def check_column_roles(given: Mapping[str, str], where: str) -> None:
    """Refuse a column map naming a role the state does not have, or no column."""
    for role, name in given.items():
        if role not in SOURCE_COLUMNS:
            raise UsageError(
                where, f"unknown state field '{role}'", f"use one of: {', '.join(SOURCE_COLUMNS)}"
            )
        if not isinstance(name, str) or not name.strip():
            raise UsageError(where, f"no column named for {role}", f"write {role}=COLUMN")


def resolve_state_sources(
    columns: Sequence[str], given: Mapping[str, str], source: str
) -> StateSources:
    """Which column of the table `source` each role is read from: the column `given` for it
    (the user's map), else the one column named like the role, else none."""
    check_column_roles(given, "--column")
    found: dict[str, str | None] = {}
    for role, default in SOURCE_COLUMNS.items():
        if role in given:
            found[role] = _given_column(columns, role, given[role], source)
            continue
        keys = {_name_key(name) for name in (default, *ALIASES.get(role, ()))}
        matches = [name for name in columns if _name_key(name) in keys]
        if len(matches) > 1:
            raise DataError(
                source,
                f"columns {_quoted(matches)} could each be the state field {role}",
                f"pick one with --column {role}=NAME",
            )
        found[role] = matches[0] if matches else None
    readers: dict[str, str] = {}
    for role, name in found.items():
        if name is None:
            continue
        if name in readers:
            raise DataError(
                source,
                f"column '{name}' would be read for both {readers[name]} and {role}",
                f"name the right columns with --column {readers[name]}=NAME --column {role}=NAME",
            )
        readers[name] = role
    return StateSources(found)


def _name_key(name: str) -> str:
    """A column name compared without case, spaces, underscores or hyphens."""
    return re.sub(r"[\s_-]+", "", name.casefold())


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _given_column(columns: Sequence[str], role: str, wanted: str, source: str) -> str:
    if wanted in columns:
        return wanted
    matches = [name for name in columns if _name_key(name) == _name_key(wanted)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DataError(
            source,
            f"--column {role}='{wanted}' matches columns {_quoted(matches)}",
            "give the column's exact name",
        )
    near = difflib.get_close_matches(wanted, columns, n=3, cutoff=0.6)
    hint = f" (nearest: {_quoted(near)})" if near else ""
    raise DataError(
        source,
        f"no column '{wanted}' for the state field {role} (--column {role}=...){hint}",
        "name a column of the file, exactly as in its header",
    )


def default_text(role: str, response_prior: float) -> str:
    """The default a state field takes, in words."""
    return {
        "contract": "month-to-month",
        "internet_service": "DSL",
        "tenure": f"{DEFAULT_TENURE:g} months",
        "monthly_charges": f"{DEFAULT_MONTHLY_CHARGES:g}",
        "recent_interventions": "0",
        "days_since_contact": f"{DEFAULT_DAYS_SINCE_CONTACT:g} days",
        "response_rate": f"{response_prior:g} (the prior)",
        "engagement": f"{DEFAULT_ENGAGEMENT:g}",
    }[role]


@dataclass(frozen=True)
class StateAssumptions:
    """What a summary says about the state: the columns read under another name than the
    default, which of them were found by name rather than given, the fields that took their
    default (with it, in words) and, at scoring, the columns the bundle reads that the file
    lacks (role -> column)."""

    read_from: dict[str, str]
    matched: tuple[str, ...]
    defaulted: dict[str, str]
    missing: dict[str, str]

    @property
    def charges_defaulted(self) -> bool:
        """Every cost, value and gain is then in months of charge."""
        return "monthly_charges" in self.defaulted


def state_assumptions(
    sources: StateSources,
    response_prior: float,
    given: Collection[str] | None = None,
    missing: Mapping[str, str] | None = None,
) -> StateAssumptions:
    """The assumptions behind `sources`. `given`: the roles the user named a column for (None:
    not known); `missing`: role -> column of `sources` that a scored table lacks."""
    lacking = dict(missing or {})
    used = StateSources(
        {role: None if role in lacking else name for role, name in sources.columns.items()}
    )
    renamed = used.renamed
    return StateAssumptions(
        read_from=renamed,
        matched=() if given is None else tuple(role for role in renamed if role not in given),
        defaulted={role: default_text(role, response_prior) for role in used.defaulted},
        missing=lacking,
    )


def build_state(
    customers: pl.DataFrame,
    churn_probability: npt.ArrayLike,
    response_prior: float,
    sources: StateSources,
    coded: Mapping[str, LevelCodes] | None = None,
) -> StateMatrix:
    """The N x 9 float32 state matrix, column by column with Polars expressions, reading each
    field from the column `sources` names (a column the table lacks takes the default).

    `coded` holds text columns already coded by level (the churn model's matrix): their text
    rules are then applied to the few levels, not to every cell (same values, less work).
    """
    sources = sources.within(customers.columns)

    def number(role: str, default: float) -> pl.Expr:
        return _number(sources.column(role), role, default)

    def by_rule(role: str, rule: Rule, default: float) -> pl.Expr:
        name = sources.column(role)
        codes = None if name is None else (coded or {}).get(name)
        return _by_rule(customers, codes, name, rule, default)

    frame = customers.select(
        pl.Series("churn_probability", np.asarray(churn_probability, dtype=np.float64)),
        by_rule("contract", _contract, 0.0).alias("contract"),
        by_rule("internet_service", _internet, 1.0).alias("internet_service"),
        number("tenure", DEFAULT_TENURE).clip(0.0, MAX_TENURE_MONTHS),
        number("monthly_charges", DEFAULT_MONTHLY_CHARGES).clip(0.0),
        number("recent_interventions", 0.0).clip(0.0, MAX_RECENT_INTERVENTIONS),
        number("days_since_contact", DEFAULT_DAYS_SINCE_CONTACT).clip(0.0, MAX_DAYS_SINCE_CONTACT),
        number("response_rate", response_prior).clip(0.0, 1.0),
        _engagement(sources, by_rule),
    )
    return np.ascontiguousarray(frame.to_numpy(order="c"), dtype=np.float32)


def check_state_columns(
    customers: pl.DataFrame, sources: StateSources, source: str, first_row: int = 0
) -> None:
    """Refuse what the state cannot be built from: a state column of dates, lists or other
    values that are not numbers (or, for the text columns, not text), naming the column; and a
    negative, infinite or huge monthly charge (beyond float32), naming the row: every cost and
    value is a multiple of it."""
    sources = sources.within(customers.columns)
    schema = customers.schema
    for role in (*_NUMBER_ROLES, *_TEXT_ROLES):
        name = sources.column(role)
        if name is None:
            continue
        kind = unusable_kind(schema[name])
        text = role in _TEXT_ROLES
        if text and kind is not None and schema[name].is_temporal():
            kind = None  # a date in a text column is read as its text
        if kind is not None:
            wanted, fix = (
                ("text", "give one text value per cell")
                if text
                else (
                    "numbers",
                    number_fix(name),
                )
            )
            raise DataError(source, f"column '{name}' holds {kind}, not {wanted}", fix)
    name = sources.column("monthly_charges")
    if name is None:
        return
    charge = customers.get_column(name).cast(pl.Float64, strict=False)
    bad = (charge < 0).fill_null(False) | beyond_float32(charge)
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise DataError(
            source,
            f"column '{name}': charge {charge[row]} is not a real monthly charge "
            f"(row {first_row + row + 1} after the header)",
            "correct that charge, or blank it to use the default",
        )


_NUMBER_ROLES = STATE_COLUMNS[TENURE:]  # the state fields read from number columns
_TEXT_ROLES = ("contract", "internet_service", *SERVICE_ROLES)


def monthly_charges(customers: pl.DataFrame, sources: StateSources) -> npt.NDArray[np.float64]:
    """Each customer's monthly charge in full precision (the state matrix holds float32)."""
    name = sources.within(customers.columns).column("monthly_charges")
    if name is None:
        return np.full(customers.height, DEFAULT_MONTHLY_CHARGES)
    charge = _number(name, "monthly_charges", DEFAULT_MONTHLY_CHARGES)
    return customers.select(charge.clip(0.0)).to_series().to_numpy().astype(np.float64)


def _number(name: str | None, role: str, default: float) -> pl.Expr:
    if name is None:
        return pl.lit(default, dtype=pl.Float64).alias(role)
    return pl.col(name).cast(pl.Float64, strict=False).fill_nan(None).fill_null(default).alias(role)


Rule = Callable[[pl.Expr], pl.Expr]  # a rule for text: an expression on a String column


def _by_rule(
    customers: pl.DataFrame,
    coded: LevelCodes | None,
    name: str | None,
    rule: Rule,
    default: float,
) -> pl.Expr:
    """The rule's value for every customer; `default` when no column is read."""
    if name is None:
        return pl.lit(default, dtype=pl.Float64)
    text = customers.get_column(name)
    if coded is None or text.dtype != pl.String:
        return rule(pl.col(name).cast(pl.String)).cast(pl.Float64)
    # One value per level, plus one for a blank; then each customer's by its level's code.
    levels = pl.Series(name, [*coded.levels, None], dtype=pl.String)
    table = pl.select(rule(pl.lit(levels)).cast(pl.Float64)).to_series().to_numpy()
    index = np.where(np.isnan(coded.codes), len(coded.levels), coded.codes).astype(np.intp)
    values = table[index]
    unseen = np.isnan(coded.codes) & text.is_not_null().to_numpy()
    if unseen.any():  # a level the codes do not know: the rule reads its text
        values[unseen] = pl.select(rule(pl.lit(text.filter(unseen)))).to_series().to_numpy()
    return pl.lit(pl.Series(name, values, dtype=pl.Float64))


def _contract(text: pl.Expr) -> pl.Expr:
    lower = text.str.to_lowercase()
    return (
        pl.when(lower.str.contains("two|2"))
        .then(2.0)
        .when(lower.str.contains("one|1|year|annual"))
        .then(1.0)
        .otherwise(0.0)
    )


def _internet(text: pl.Expr) -> pl.Expr:
    lower = text.str.to_lowercase()
    return (
        pl.when(lower.str.contains("fib"))
        .then(2.0)
        .when(lower.is_in(["no", "none"]))
        .then(0.0)
        .otherwise(1.0)
    )


def _uses_service(text: pl.Expr) -> pl.Expr:
    return (text.str.to_lowercase() == "yes").fill_null(False)


def _has_internet(text: pl.Expr) -> pl.Expr:
    return (~text.str.to_lowercase().is_in(["no", "none"])).fill_null(False)


def _engagement(sources: StateSources, by_rule: Callable[[str, Rule, float], pl.Expr]) -> pl.Expr:
    name = sources.column("engagement")
    if name is not None:
        return (
            pl.col(name)
            .cast(pl.Float64, strict=False)
            .fill_nan(None)
            .fill_null(DEFAULT_ENGAGEMENT)
            .clip(0.0, 1.0)
            .alias("engagement")
        )
    used = [
        by_rule(role, _uses_service, 0.0)
        for role in SERVICE_ROLES
        if sources.column(role) is not None
    ]
    if sources.column("internet_service") is not None:
        used.append(by_rule("internet_service", _has_internet, 0.0))
    if not used:
        return pl.lit(DEFAULT_ENGAGEMENT).alias("engagement")
    return (pl.sum_horizontal(used) / len(used)).alias("engagement")

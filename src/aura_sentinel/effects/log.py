"""A campaign log: one row per customer decision, with the action taken and what followed.

Each row holds the customer's attributes at the time, the action (a catalog name in any case, or
an action id), optionally the probability with which that action was chosen, and the outcome
(churned or not within the log's horizon), in the column `train` reads the outcome from.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.errors import DataError
from aura_sentinel.io import read_customers
from aura_sentinel.retention.catalog import ActionCatalog
from aura_sentinel.schema import (
    ColumnRoles,
    TrainingTable,
    as_text,
    parse_outcome,
    prepare_training_table,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DEFAULT_ACTION_COLUMN = "action"
DEFAULT_PROPENSITY_COLUMN = "propensity"


@dataclass(frozen=True)
class LogColumns:
    """The log's action and propensity columns (`--action-column`, `--propensity-column`);
    a propensity column named by the user must be there, the default one may be absent."""

    action: str = DEFAULT_ACTION_COLUMN
    propensity: str = DEFAULT_PROPENSITY_COLUMN
    propensity_required: bool = False

    @property
    def names(self) -> tuple[str, str]:
        return self.action, self.propensity


@dataclass(frozen=True)
class CampaignLog:
    """The rows of a campaign log with a known outcome."""

    path: Path
    table: TrainingTable
    """The customers (without the action and propensity columns), their features and outcomes."""
    actions: IntArray
    propensity: FloatArray | None
    """The logged probability of each row's action; None when the log has none."""
    action_column: str = DEFAULT_ACTION_COLUMN
    """The log's column that held the actions."""
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def churned(self) -> FloatArray:
        churned: FloatArray = self.table.outcome.astype(np.float64)
        return churned

    @property
    def rows(self) -> int:
        return int(self.actions.size)

    def no_action_rows(self) -> CampaignLog:
        """Only the rows where nothing was done (the churn model learns from them)."""
        keep = self.actions == 0
        mask = pl.Series(keep)
        table = TrainingTable(
            customers=self.table.customers.filter(mask),
            features=self.table.features.filter(mask),
            outcome=self.table.outcome[keep],
            ids=self.table.ids.filter(mask),
            notes=self.table.notes,
        )
        propensity = None if self.propensity is None else self.propensity[keep]
        return CampaignLog(
            self.path, table, self.actions[keep], propensity, self.action_column, self.notes
        )


def read_campaign_log(
    path: Path,
    catalog: ActionCatalog,
    columns: LogColumns,
    roles_for: Callable[[list[str]], ColumnRoles],
) -> CampaignLog:
    """Read and check a campaign log; raise DataError naming the column or row at fault.

    `roles_for` gives the outcome, id and left-out columns from the log's other columns."""
    source = str(path)
    frame = read_customers(path)
    if columns.action not in frame.columns:
        _refuse_missing(frame, columns.action, "--action-column", source)
    roles = roles_for([name for name in frame.columns if name not in columns.names])
    _check_columns(frame, roles, columns, source)
    actions = _action_ids(frame.get_column(columns.action), catalog, source)
    propensity = None
    if columns.propensity in frame.columns:
        propensity = _propensities(frame.get_column(columns.propensity), source)

    notes = []
    _, unknown = parse_outcome(frame.get_column(roles.target), [])
    if unknown.any() and not unknown.all():
        notes.append(
            f"{int(unknown.sum()):,} log rows without a known {roles.target} were left out"
        )
        frame = frame.filter(pl.Series(~unknown))
        actions = actions[~unknown]
        propensity = None if propensity is None else propensity[~unknown]
    customers = frame.drop(columns.action, columns.propensity, strict=False)
    table = prepare_training_table(customers, roles, source)
    return CampaignLog(path, table, actions, propensity, columns.action, notes + table.notes)


def _check_columns(
    frame: pl.DataFrame, roles: ColumnRoles, columns: LogColumns, source: str
) -> None:
    wanted = [(columns.action, "--action-column"), (roles.target, "--target")]
    if columns.propensity_required:
        wanted.append((columns.propensity, "--propensity-column"))
    for name, option in wanted:
        if name not in frame.columns:
            _refuse_missing(frame, name, option, source)


def _refuse_missing(frame: pl.DataFrame, name: str, option: str, source: str) -> None:
    near = difflib.get_close_matches(name, frame.columns, n=3, cutoff=0.6)
    hint = f" (nearest: {', '.join(repr(n) for n in near)})" if near else ""
    raise DataError(
        source,
        f"the campaign log has no column '{name}'{hint}",
        f"add it, or name the log's column with {option}",
    )


def _action_ids(column: pl.Series, catalog: ActionCatalog, source: str) -> IntArray:
    """Each row's action id, from a catalog name (any case, spaces around ignored) or an id."""
    by_name = {name.strip().casefold(): index for index, name in enumerate(catalog.names)}
    by_name |= {str(index): index for index in range(catalog.size)}
    text = as_text(column).str.strip_chars().str.to_lowercase()
    keys = pl.Series(list(by_name), dtype=pl.String)
    codes = text.replace_strict(keys, pl.Series(list(by_name.values())), default=None)
    unknown = codes.is_null()
    if unknown.any():
        row = int(unknown.arg_max() or 0)
        value = column[row]
        shown = "blank" if value is None else f"'{value}'"
        names = ", ".join(f"'{name}'" for name in catalog.names)
        raise DataError(
            source,
            f"column '{column.name}': action {shown} is not in the catalog "
            f"(row {row + 1} after the header)",
            f"give one of {names} or an id 0-{catalog.size - 1} "
            "(or the catalog with --policy-config)",
        )
    ids: IntArray = codes.cast(pl.Int64).to_numpy().astype(np.int64)
    return ids


def _propensities(column: pl.Series, source: str) -> FloatArray:
    """The logged probabilities: numbers above 0 and at most 1, none blank."""
    numbers = column.cast(pl.Float64, strict=False) if column.dtype != pl.Boolean else None
    if numbers is None:
        bad = pl.Series([True] * column.len())
    else:
        bad = (numbers.is_null() | numbers.is_nan() | (numbers <= 0) | (numbers > 1)).fill_null(
            True
        )
    if bad.any():
        row = int(bad.arg_max() or 0)
        value = column[row]
        shown = "blank" if value is None else f"{value}"
        raise DataError(
            source,
            f"column '{column.name}': propensity {shown} is not a probability above 0 "
            f"(row {row + 1} after the header)",
            "give the probability with which the logged action was chosen (0 < p <= 1), "
            "or leave the column out to have it estimated",
        )
    assert numbers is not None
    values: FloatArray = numbers.to_numpy().astype(np.float64)
    return values

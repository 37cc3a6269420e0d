"""Column roles and validation of a customer table.

The defaults follow the IBM Telco schema (`customerID`, `Churn`); any other table works with
`--target`, `--id` and `--exclude`. Validation collects every problem before it raises, so the
user fixes a file once, not once per problem.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from aura_sentinel.errors import DataError, UsageError

DEFAULT_ID = "customerID"
DEFAULT_TARGET = "Churn"

# A text column whose non-blank values are at least this share numbers is a number column
# with typos, not a category: it is refused with the first bad row rather than silently
# turned into hundreds of categories.
_NUMERIC_SHARE = 0.9

_POSITIVE = ("yes", "y", "true", "t", "1", "1.0")
_NEGATIVE = ("no", "n", "false", "f", "0", "0.0")

# The largest float32: the churn model and the state read numbers as float32, where anything
# larger is infinite.
FLOAT32_MAX = float(np.finfo(np.float32).max)

# What to give instead, for the number columns the Telco schema and the customer state know.
_NUMBER_FIXES = {
    "tenure": "give the number of months as a customer",
    "MonthlyCharges": "give the monthly charge as a number",
    "TotalCharges": "give the total charged so far as a number",
    "recent_interventions": "give the number of recent retention contacts",
    "days_since_contact": "give the number of days since the last retention contact",
    "response_rate": "give the share of past offers taken up, from 0 to 1",
    "engagement": "give the share of services used, from 0 to 1",
}


def unusable_kind(dtype: pl.DataType) -> str | None:
    """What a column of this type holds when it gives neither numbers nor text: "dates",
    "lists"...; None for numbers, text, true/false and empty columns."""
    if dtype.is_temporal():
        if isinstance(dtype, pl.Duration):
            return "durations"
        return "times of day" if dtype == pl.Time else "dates"
    if isinstance(dtype, (pl.List, pl.Array)):
        return "lists"
    if isinstance(dtype, pl.Struct):
        return "structs (several values per cell)"
    if dtype.is_numeric() or dtype in (pl.String, pl.Boolean, pl.Null, pl.Categorical):
        return None
    if isinstance(dtype, pl.Enum):
        return None
    return f"values of type {dtype}"


def beyond_float32(numbers: pl.Series) -> pl.Series:
    """Where a Float64 column holds an infinite number or one beyond float32 (NaN and blanks
    are missing values, not too large: Polars orders NaN above every number)."""
    too_large: pl.Series = ((numbers.abs() > FLOAT32_MAX) & ~numbers.is_nan()).fill_null(False)
    return too_large


def number_fix(name: str) -> str:
    """What to do about a column that should hold numbers and does not."""
    return _NUMBER_FIXES.get(name, "give one number per cell in that column")


def check_id_column(columns: Collection[str], roles: ColumnRoles, source: str) -> None:
    """Refuse a table without the id column a model bundle names its customers by."""
    if roles.id is not None and roles.id not in columns:
        raise DataError(
            source,
            f"no id column '{roles.id}', which the model bundle names customers by",
            f"add the '{roles.id}' column (one id per customer) to the file",
        )


@dataclass(frozen=True)
class ColumnRoles:
    """The outcome column, the id column (None: use the row number), and columns to leave out."""

    target: str = DEFAULT_TARGET
    id: str | None = DEFAULT_ID
    excluded: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"target": self.target, "id": self.id, "excluded": list(self.excluded)}


def resolve_roles(
    columns: list[str],
    source: str,
    target: str | None = None,
    identifier: str | None = None,
    excluded: tuple[str, ...] = (),
) -> ColumnRoles:
    """Roles for a table: defaults from the Telco schema, overridden by the user's options."""
    problems: list[str] = []
    present = set(columns)
    target_name = target or DEFAULT_TARGET
    if target_name not in present:
        hint = "" if target else " (the Telco default)"
        problems.append(f"no target column '{target_name}'{hint}")
    if identifier is not None and identifier not in present:
        problems.append(f"no id column '{identifier}'")
    id_name = (
        identifier if identifier is not None else (DEFAULT_ID if DEFAULT_ID in present else None)
    )
    problems += [f"--exclude '{name}': no such column" for name in excluded if name not in present]
    if problems:
        raise UsageError(
            source,
            "; ".join(problems),
            f"name existing columns with --target/--id/--exclude (columns: {_preview(columns)})",
        )
    return ColumnRoles(target=target_name, id=id_name, excluded=tuple(excluded))


@dataclass
class TrainingTable:
    """A validated training table: all its rows, candidate features, 0/1 outcomes and ids."""

    customers: pl.DataFrame
    features: pl.DataFrame
    outcome: npt.NDArray[np.float32]
    ids: pl.Series
    notes: list[str] = field(default_factory=list)


def prepare_training_table(frame: pl.DataFrame, roles: ColumnRoles, source: str) -> TrainingTable:
    """Check a training table and give typed features, outcomes and ids; raise on any problem."""
    problems: list[str] = []
    notes: list[str] = []
    if roles.target not in frame.columns:  # with --policy-only the bundle's roles are used
        raise DataError(
            source,
            f"no target column '{roles.target}', the outcome the model bundle was trained on",
            f"add the '{roles.target}' column, or train the churn model again on this table",
        )
    check_id_column(frame.columns, roles, source)

    role_columns = {roles.target, *roles.excluded} | ({roles.id} if roles.id else set())
    candidates = frame.select([name for name in frame.columns if name not in role_columns])
    features = coerce_feature_types(candidates, problems, notes)
    ids = customer_ids(frame, roles.id)
    if roles.id is not None:
        _check_unique_ids(ids, problems)

    outcome, unknown = parse_outcome(frame.get_column(roles.target), problems)
    if unknown.any() and not unknown.all():
        notes.append(f"{int(unknown.sum()):,} rows without a known {roles.target} were left out")
        known = pl.Series(~unknown)
        frame, features, ids = frame.filter(known), features.filter(known), ids.filter(known)
        outcome = outcome[~unknown]

    if problems:
        raise DataError(source, "; ".join(problems), "fix the file or choose other columns")
    return TrainingTable(customers=frame, features=features, outcome=outcome, ids=ids, notes=notes)


def customer_ids(frame: pl.DataFrame, id_column: str | None) -> pl.Series:
    """Customer ids as text; the 1-based row number when the table has no id column."""
    if id_column is None:
        row_numbers: pl.Series = pl.Series("row", np.arange(1, frame.height + 1)).cast(pl.String)
        return row_numbers
    return as_text(frame.get_column(id_column))


def as_text(column: pl.Series) -> pl.Series:
    """Text form of a column; whole numbers stored as floats (1.0 in a sheet) lose the .0."""
    if column.dtype.is_float():
        whole = column.is_not_null() & (column == column.round(0))
        as_int = column.cast(pl.Int64, strict=False).cast(pl.String)
        return pl.select(
            pl.when(whole).then(as_int).otherwise(column.cast(pl.String)).alias(column.name)
        ).to_series()
    text: pl.Series = column.cast(pl.String)
    return text


def coerce_feature_types(
    frame: pl.DataFrame, problems: list[str], notes: list[str]
) -> pl.DataFrame:
    """Numbers (also numbers stored as text) become Float64; other text stays text.

    Columns of other types (dates, lists) are dropped with a note. An infinite number, or one
    beyond float32 (what the model reads), is a problem naming its row.
    """
    kept: list[pl.Series] = []
    for name in frame.columns:
        column = frame.get_column(name)
        if column.dtype == pl.String:
            kept.append(_text_or_number(column, problems))
        elif column.dtype.is_numeric() or column.dtype == pl.Boolean or column.dtype == pl.Null:
            kept.append(column.cast(pl.Float64))
        else:
            notes.append(f"column '{name}' of type {column.dtype} is not used")
    for column in kept:
        if column.dtype != pl.Float64:
            continue
        too_large = beyond_float32(column)
        if too_large.any():
            row = int(too_large.arg_max() or 0)
            kind = "infinite value" if column.is_infinite()[row] else "value too large"
            problems.append(
                f"column '{column.name}': {kind} {column[row]} (row {row + 1} after the header)"
            )
    return pl.DataFrame(kept)


def _text_or_number(column: pl.Series, problems: list[str]) -> pl.Series:
    numbers = column.cast(pl.Float64, strict=False)
    present = column.len() - column.null_count()
    parsed = numbers.len() - numbers.null_count()
    if present == 0 or parsed == present:
        return numbers if present else column
    if parsed >= _NUMERIC_SHARE * present:
        bad_row = int((column.is_not_null() & numbers.is_null()).arg_max() or 0)
        problems.append(
            f"column '{column.name}': text '{column[bad_row]}' in a number column"
            f" (row {bad_row + 1} after the header)"
        )
    return column


def parse_outcome(
    column: pl.Series, problems: list[str]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Outcomes as 0/1 (Yes/No, 1/0, True/False, "True."...) and a mask of unknown rows."""
    text = as_text(column).str.to_lowercase().str.strip_chars().str.strip_chars_end(".")
    positive = text.is_in(_POSITIVE)
    negative = text.is_in(_NEGATIVE)
    present = text.is_not_null()
    unrecognised = present & ~positive & ~negative
    name = column.name
    values = sorted(str(value) for value in column.drop_nulls().unique().to_list())
    if present.sum() == 0:
        problems.append(f"target column '{name}' is empty")
    elif unrecognised.any():
        shown = ", ".join(f"'{value}'" for value in values[:5])
        if len(values) > 2:
            problems.append(f"target column '{name}' has {len(values)} values ({shown}), not two")
        else:
            problems.append(f"target column '{name}' holds {shown}, not yes/no outcomes")
    elif positive.sum() == 0 or negative.sum() == 0:
        problems.append(
            f"target column '{name}' has one class only ('{values[0]}'): both outcomes are needed"
        )
    outcome = positive.fill_null(False).to_numpy().astype(np.float32)
    unknown = (~present).to_numpy()
    return outcome, unknown


def _check_unique_ids(ids: pl.Series, problems: list[str]) -> None:
    counts = ids.drop_nulls().value_counts()
    repeated = counts.filter(pl.col("count") > 1)
    if repeated.height:
        example = repeated.get_column(ids.name)[0]
        problems.append(
            f"id column '{ids.name}' repeats {repeated.height:,} ids (e.g. '{example}')"
        )
    if ids.null_count():
        problems.append(f"id column '{ids.name}' is blank in {ids.null_count():,} rows")


def _preview(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (", ..." if len(columns) > limit else "")

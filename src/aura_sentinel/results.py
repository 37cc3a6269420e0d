"""The results file that `score` writes and `report` reads: its columns, their rules, its formats.

`RESULT_COLUMNS` names every column `score` writes (the training target, when the scored file has
it, is copied after them, then `LoggedAction` when a bundle with learned effects scores a campaign
log). `result_rules` says what each column may hold; `check_results` applies the rules to a frame,
vectorised, and names the first cell that breaks one. `write_text_results`
writes batches of results as CSV (with its spreadsheet formula guard), JSON or JSON Lines, with
numbers rounded to what they mean (`rounded`); Parquet keeps full precision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import polars as pl

from aura_sentinel.errors import DataError

RISK_LEVELS = ("HIGH", "MEDIUM", "LOW")
RESULT_COLUMNS = (
    "CustomerID",
    "Tenure",
    "MonthlyCharges",
    "ChurnProbability",
    "RiskLevel",
    "ActionID",
    "RecommendedAction",
    "ActionCost",
    "ExpectedValue",
    "ExpectedGain",
    "ChurnIfActed",
    "EffectSource",
    "Contract",
    "TopDrivers",
)
ID_COLUMN = "CustomerID"
EFFECT_SOURCES = ("learned", "assumed")
"""EffectSource: the effects the plan rests on, learned from a campaign log or assumed."""
LOGGED_ACTION = "LoggedAction"
"""The campaign log's action, copied after the target when the scored file is a campaign log."""
RESULT_SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")
TextFormat = Literal["csv", "json", "jsonl"]
STDOUT = Path("-")
"""`score --out -`: the results as CSV on standard output."""
MONEY_COLUMNS = ("ActionCost", "ExpectedValue", "ExpectedGain")
PROBABILITY_COLUMNS = ("ChurnProbability", "ChurnIfActed")
PROBABILITY_DECIMALS = 4
"""Decimals of the probabilities in text results: a hundredth of a percent."""
MONEY_DECIMALS = 2
"""Decimals of money (and MonthlyCharges) in text results: the cent."""
MONTHS_DECIMALS = 4
"""Decimals of money counted in months of charge (a customer without a monthly charge)."""
_FORMULA_STARTS = ("=", "+", "-", "@")


@dataclass(frozen=True)
class ColumnRule:
    """What one results column may hold."""

    kind: Literal["number", "whole number", "text"]
    low: float = -math.inf
    high: float = math.inf
    finite: bool = True
    """Numbers only: NaN and infinity are refused."""
    levels: tuple[str, ...] = ()
    """Text only: the allowed values (empty: any text)."""
    blank: bool = False
    """Empty cells are allowed (a column copied from an input that may lack it)."""

    def describe(self) -> str:
        if self.levels:
            return f"one of {', '.join(self.levels)}"
        if self.kind == "text":
            return "a text"
        if math.isinf(self.low) and math.isinf(self.high):
            return f"a {'finite ' if self.finite else ''}{self.kind}"
        if math.isinf(self.high):
            return f"a {self.kind} of {self.low:g} or more"
        return f"a {self.kind} from {self.low:g} to {self.high:g}"


def result_rules(action_names: Sequence[str]) -> dict[str, ColumnRule]:
    """The rule of every results column, for a bundle with these actions (ids 0, 1, ...)."""
    return {
        "CustomerID": ColumnRule("text", blank=True),
        "Tenure": ColumnRule("number", finite=False, blank=True),  # copied from the input
        "MonthlyCharges": ColumnRule("number", finite=False, blank=True),  # likewise
        "ChurnProbability": ColumnRule("number", 0, 1),
        "RiskLevel": ColumnRule("text", levels=RISK_LEVELS),
        "ActionID": ColumnRule("whole number", 0, len(action_names) - 1),
        "RecommendedAction": ColumnRule("text", levels=tuple(action_names)),
        "ActionCost": ColumnRule("number", 0),
        "ExpectedValue": ColumnRule("number"),
        "ExpectedGain": ColumnRule("number"),
        "ChurnIfActed": ColumnRule("number", 0, 1),
        "EffectSource": ColumnRule("text", levels=EFFECT_SOURCES),
        "Contract": ColumnRule("text", blank=True),
        "TopDrivers": ColumnRule("text", blank=True),
        LOGGED_ACTION: ColumnRule("text", blank=True),  # copied from a campaign log
    }


def named_like_result(column: str, role: str) -> bool:
    """A target or id column named like a results column would be confused with it (the id
    column's values are written as CustomerID, so an id column of that name is no clash)."""
    named = column in RESULT_COLUMNS or column == LOGGED_ACTION
    return named and not (role == "id" and column == ID_COLUMN)


def check_results(
    frame: pl.DataFrame,
    rules: dict[str, ColumnRule],
    source: str,
    rows: str,
    fix: str,
    first_row: int = 0,
) -> None:
    """Raise DataError naming the first cell of `frame` that breaks its column's rule.

    Number columns must already be numeric; `rows` is how rows are counted in the message
    ("row {} after the header" for a CSV file); `first_row` is the frame's offset in its file.
    """
    for name, rule in rules.items():
        if name not in frame.columns:
            continue
        column = frame.get_column(name)
        bad = _breaks(column, rule)
        if bad.any():
            row = int(bad.arg_max() or 0)
            value = "an empty cell" if column[row] is None else f"'{column[row]}'"
            raise DataError(
                source,
                f"column {name}, {rows.format(first_row + row + 1)}: {value} is not "
                f"{rule.describe()}",
                fix,
            )


def _breaks(column: pl.Series, rule: ColumnRule) -> pl.Series:
    """True for each cell that breaks `rule`."""
    present = column.is_not_null()
    bad = pl.repeat(False, column.len(), eager=True) if rule.blank else ~present
    if rule.kind == "text":
        if rule.levels:
            bad = bad | (present & ~column.cast(pl.String).is_in(rule.levels))
        return bad
    numbers = column.cast(pl.Float64)
    finite = numbers.is_finite()
    out_of_range = (numbers < rule.low) | (numbers > rule.high)
    if rule.kind == "whole number":
        out_of_range = out_of_range | (numbers != numbers.floor())
    # Polars orders NaN above every number: without `finite`, only real numbers are range-checked.
    out_of_range = out_of_range | ~finite if rule.finite else out_of_range & ~numbers.is_nan()
    breaks: pl.Series = bad | (present & out_of_range).fill_null(False)
    return breaks


def neutralise_formulas(results: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells and column names that a spreadsheet would run as a formula with an
    apostrophe (a copied target column may be named `=SUM(1+1)` or `@x`)."""
    text_columns = [name for name, dtype in results.schema.items() if dtype == pl.String]
    return results.with_columns(
        pl.when(pl.any_horizontal(pl.col(name).str.starts_with(mark) for mark in _FORMULA_STARTS))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    ).rename(neutralised_name)


def neutralised_name(name: str) -> str:
    return f"'{name}" if name.startswith(_FORMULA_STARTS) else name


def restored_name(name: str) -> str:
    """Undo `neutralised_name` on a column name read back from CSV."""
    return name[1:] if name[:1] == "'" and name[1:].startswith(_FORMULA_STARTS) else name


def restore_formulas(text: pl.Expr) -> pl.Expr:
    """Undo `neutralise_formulas` on one text column read back from CSV."""
    return text.str.replace(r"^'([=+\-@])", "$1")


def rounded(results: pl.DataFrame) -> pl.DataFrame:
    """The results rounded to what the numbers mean: a probability to 4 decimals, money to the
    cent, or to 4 decimals where it is counted in months of charge (no MonthlyCharges: a gain
    of 0.0089 months would read 0.01). A rounded value stays within its column's rule."""
    charged = pl.col("MonthlyCharges").is_finite().fill_null(False)
    columns = {
        name: pl.col(name).round(PROBABILITY_DECIMALS)
        for name in PROBABILITY_COLUMNS
        if name in results.columns  # results written before ChurnIfActed lack it
    }
    columns["MonthlyCharges"] = pl.col("MonthlyCharges").round(MONEY_DECIMALS)
    for name in MONEY_COLUMNS:
        columns[name] = (
            pl.when(charged)
            .then(pl.col(name).round(MONEY_DECIMALS))
            .otherwise(pl.col(name).round(MONTHS_DECIMALS))
        )
    return results.with_columns(
        _without_negative_zero(number).alias(name) for name, number in columns.items()
    )


def _without_negative_zero(number: pl.Expr) -> pl.Expr:
    """-0.0 (a tiny loss, rounded) as 0.0."""
    return pl.when(number == 0).then(0.0).otherwise(number)


def write_text_results(
    batches: Iterable[pl.DataFrame], handle: IO[bytes], text_format: TextFormat
) -> None:
    """Write batches of results, rounded, to `handle`: CSV with one header, one JSON array of
    objects, or JSON Lines (one object a line). JSON is strict: NaN and infinity are null."""
    first = True
    if text_format == "json":
        handle.write(b"[")
    for results in batches:
        if results.height == 0:
            continue
        shown = rounded(results)
        if text_format == "csv":
            neutralise_formulas(shown).write_csv(handle, include_header=first)
        elif text_format == "jsonl":
            shown.write_ndjson(handle)
        else:  # the JSON Lines objects joined by commas (JSON text holds no raw line break)
            objects = shown.write_ndjson().rstrip("\n").replace("\n", ",\n")
            handle.write((("\n" if first else ",\n") + objects).encode())
        first = False
    if text_format == "json":
        handle.write(b"\n]\n")

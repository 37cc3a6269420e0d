"""The results file that `score` writes and `report` reads: its vocabulary and its CSV guard."""

from __future__ import annotations

import polars as pl

RISK_LEVELS = ("HIGH", "MEDIUM", "LOW")
_FORMULA_STARTS = ("=", "+", "-", "@")


def neutralise_formulas(results: pl.DataFrame) -> pl.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with an apostrophe."""
    text_columns = [name for name, dtype in results.schema.items() if dtype == pl.String]
    return results.with_columns(
        pl.when(pl.any_horizontal(pl.col(name).str.starts_with(mark) for mark in _FORMULA_STARTS))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    )


def restore_formulas(text: pl.Expr) -> pl.Expr:
    """Undo `neutralise_formulas` on one text column read back from CSV."""
    return text.str.replace(r"^'([=+\-@])", "$1")

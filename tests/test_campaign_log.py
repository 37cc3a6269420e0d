"""Reading a campaign log: actions by name or id, logged propensities, and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from aura_sentinel.effects.log import LogColumns, read_campaign_log
from aura_sentinel.errors import DataError
from aura_sentinel.retention.catalog import Action, ActionCatalog
from aura_sentinel.schema import ColumnRoles, resolve_roles

CATALOG = ActionCatalog()


def _roles(source: str):  # type: ignore[no-untyped-def]
    return lambda names: resolve_roles(names, source)


def _log(tmp_path: Path, customers: pl.DataFrame, **columns: list[object]) -> Path:
    rows = 12
    frame = customers.head(rows)
    for name, values in columns.items():
        frame = frame.with_columns(pl.Series(name, values))
    path = tmp_path / "log.csv"
    frame.write_csv(path)
    return path


def _actions(rows: int = 12) -> list[object]:
    names = ["no action", "SEND EMAIL", " Send SMS ", "3", "4", "Personal call + 30% discount"]
    return [names[i % len(names)] for i in range(rows)]


def test_actions_are_read_by_name_in_any_case_or_by_id(
    tmp_path: Path, customers: pl.DataFrame
) -> None:
    path = _log(tmp_path, customers, action=_actions())
    log = read_campaign_log(path, CATALOG, LogColumns(), _roles(str(path)))
    assert log.actions.tolist() == [i % 6 for i in range(12)]
    assert log.propensity is None
    assert "action" not in log.table.customers.columns
    assert log.churned.tolist() == (customers.head(12)["Churn"] == "Yes").cast(float).to_list()


def test_logged_propensities_are_read_and_kept_out_of_the_features(
    tmp_path: Path, customers: pl.DataFrame
) -> None:
    path = _log(tmp_path, customers, action=_actions(), propensity=[0.25] * 12)
    log = read_campaign_log(path, CATALOG, LogColumns(), _roles(str(path)))
    assert log.propensity is not None and np.allclose(log.propensity, 0.25)
    assert "propensity" not in log.table.features.columns


def test_renamed_columns_are_read(tmp_path: Path, customers: pl.DataFrame) -> None:
    path = _log(tmp_path, customers, treatment=_actions(), p=[0.5] * 12)
    columns = LogColumns(action="treatment", propensity="p", propensity_required=True)
    log = read_campaign_log(path, CATALOG, columns, _roles(str(path)))
    assert log.propensity is not None
    assert {"treatment", "p"}.isdisjoint(log.table.features.columns)


def test_a_smaller_catalog_reads_its_own_names(tmp_path: Path, customers: pl.DataFrame) -> None:
    catalog = ActionCatalog(
        (Action("Nothing", 0.0, 0.0, False), Action("Mens E-Mail", 0.01, 0.1, False))
    )
    path = _log(tmp_path, customers, action=["nothing", "mens e-mail"] * 6)
    log = read_campaign_log(path, catalog, LogColumns(), _roles(str(path)))
    assert log.actions.tolist() == [0, 1] * 6


def test_rows_without_an_outcome_are_left_out_with_a_note(
    tmp_path: Path, customers: pl.DataFrame
) -> None:
    frame = customers.head(12).with_columns(
        pl.Series("action", _actions()),
        pl.when(pl.int_range(12) == 3).then(None).otherwise(pl.col("Churn")).alias("Churn"),
    )
    path = tmp_path / "log.csv"
    frame.write_csv(path)
    log = read_campaign_log(path, CATALOG, LogColumns(), _roles(str(path)))
    assert log.rows == 11
    assert log.actions.tolist() == [i % 6 for i in range(12) if i != 3]
    assert any("1 log rows without a known Churn" in note for note in log.notes)


def test_no_action_rows_keep_only_what_was_not_treated(
    tmp_path: Path, customers: pl.DataFrame
) -> None:
    path = _log(tmp_path, customers, action=_actions())
    log = read_campaign_log(path, CATALOG, LogColumns(), _roles(str(path))).no_action_rows()
    assert log.rows == 2 and log.table.customers.height == 2
    assert (log.actions == 0).all()


@pytest.mark.parametrize(
    ("columns", "values", "message"),
    [
        ({"action": ["Send pigeon"] * 12}, {}, "action 'Send pigeon' is not in the catalog (row 1"),
        ({"action": [*_actions(11), "6"]}, {}, "action '6' is not in the catalog (row 12"),
        ({"action": [*_actions(11), None]}, {}, "action blank is not in the catalog (row 12"),
        ({"acton": _actions()}, {}, "has no column 'action' (nearest: 'acton')"),
        ({"action": _actions(), "propensity": [0.5] * 11 + [0.0]}, {}, "propensity 0.0 is not"),
        ({"action": _actions(), "propensity": [1.5] + [0.5] * 11}, {}, "(row 1 after the header)"),
        ({"action": _actions(), "propensity": ["x"] + ["0.5"] * 11}, {}, "propensity x is not"),
        ({"action": _actions()}, {"propensity_required": True}, "has no column 'propensity'"),
    ],
)
def test_bad_logs_are_refused_naming_the_column_and_row(
    tmp_path: Path,
    customers: pl.DataFrame,
    columns: dict[str, list[object]],
    values: dict[str, bool],
    message: str,
) -> None:
    path = _log(tmp_path, customers, **columns)
    with pytest.raises(DataError) as error:
        read_campaign_log(path, CATALOG, LogColumns(**values), _roles(str(path)))
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_the_log_outcome_column_follows_the_roles(tmp_path: Path, customers: pl.DataFrame) -> None:
    frame = (
        customers.head(12).rename({"Churn": "Left"}).with_columns(pl.Series("action", _actions()))
    )
    path = tmp_path / "log.csv"
    frame.write_csv(path)
    log = read_campaign_log(path, CATALOG, LogColumns(), lambda names: ColumnRoles(target="Left"))
    assert log.rows == 12 and "Left" not in log.table.features.columns

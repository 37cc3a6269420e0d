"""Column roles and validation: every table with two outcomes trains; every problem is named."""

from __future__ import annotations

import polars as pl
import pytest

from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.schema import ColumnRoles, prepare_training_table, resolve_roles


def _table(**columns: list[object]) -> pl.DataFrame:
    return pl.DataFrame(columns, strict=False)


@pytest.mark.parametrize(
    ("yes", "no"),
    [("Yes", "No"), ("1", "0"), ("True", "False"), ("True.", "False."), ("yes", "NO")],
)
def test_target_spellings_become_one_and_zero(yes: str, no: str) -> None:
    frame = _table(id=["a", "b", "c"], x=["1", "2", "3"], Churn=[yes, no, yes])
    table = prepare_training_table(frame, ColumnRoles(id="id"), "t.csv")
    assert table.outcome.tolist() == [1.0, 0.0, 1.0]


def test_numeric_target_column_is_accepted() -> None:
    frame = _table(x=[1.0, 2.0, 3.0], Churn=[1.0, 0.0, 0.0])
    table = prepare_training_table(frame, ColumnRoles(id=None), "t.parquet")
    assert table.outcome.tolist() == [1.0, 0.0, 0.0]


def test_numbers_stored_as_text_become_numbers() -> None:
    frame = _table(tenure=["1", "12.5", None], Churn=["Yes", "No", "No"])
    table = prepare_training_table(frame, ColumnRoles(id=None), "t.csv")
    assert table.features.schema["tenure"] == pl.Float64
    assert table.features.get_column("tenure").to_list() == [1.0, 12.5, None]


def test_text_in_a_number_column_names_column_and_row() -> None:
    values = [str(number) for number in range(20)]
    values[13] = "twelve"
    frame = _table(tenure=values, Churn=["Yes", "No"] * 10)
    with pytest.raises(DataError, match=r"column 'tenure': text 'twelve'.*row 14"):
        prepare_training_table(frame, ColumnRoles(id=None), "t.csv")


def test_rows_without_an_outcome_are_left_out_with_a_note() -> None:
    frame = _table(x=["1", "2", "3", "4"], Churn=["Yes", None, "No", "No"])
    table = prepare_training_table(frame, ColumnRoles(id=None), "t.csv")
    assert table.outcome.tolist() == [1.0, 0.0, 0.0]
    assert table.features.height == 3
    assert "1 rows without a known Churn" in table.notes[0]


def test_missing_target_column_says_which_option_to_use() -> None:
    with pytest.raises(UsageError, match=r"no target column 'Churn'.*--target"):
        resolve_roles(["id", "x"], "t.csv")


def test_missing_id_and_excluded_columns_are_reported_together() -> None:
    with pytest.raises(UsageError) as error:
        resolve_roles(["Churn", "x"], "t.csv", identifier="cust", excluded=("y",))
    assert "no id column 'cust'" in str(error.value)
    assert "--exclude 'y'" in str(error.value)


def test_customer_id_is_the_default_id_only_when_present() -> None:
    assert resolve_roles(["customerID", "Churn"], "t.csv").id == "customerID"
    assert resolve_roles(["x", "Churn"], "t.csv").id is None


def test_target_with_one_class_is_refused() -> None:
    frame = _table(x=["1", "2"], Churn=["No", "No"])
    with pytest.raises(DataError, match="one class only"):
        prepare_training_table(frame, ColumnRoles(id=None), "t.csv")


def test_target_with_three_values_is_refused() -> None:
    frame = _table(x=["1", "2", "3"], Churn=["Yes", "No", "Maybe"])
    with pytest.raises(DataError, match="has 3 values"):
        prepare_training_table(frame, ColumnRoles(id=None), "t.csv")


def test_target_with_two_unknown_words_is_refused() -> None:
    frame = _table(x=["1", "2"], Churn=["Left", "Stayed"])
    with pytest.raises(DataError, match="not yes/no outcomes"):
        prepare_training_table(frame, ColumnRoles(id=None), "t.csv")


def test_empty_target_is_refused() -> None:
    frame = _table(x=["1", "2"], Churn=[None, None])
    with pytest.raises(DataError, match="is empty"):
        prepare_training_table(frame, ColumnRoles(id=None), "t.csv")


def test_duplicate_ids_are_refused_with_an_example() -> None:
    frame = _table(id=["a", "b", "a"], x=["1", "2", "3"], Churn=["Yes", "No", "No"])
    with pytest.raises(DataError, match=r"repeats 1 ids \(e.g. 'a'\)"):
        prepare_training_table(frame, ColumnRoles(id="id"), "t.csv")


def test_every_problem_is_reported_at_once() -> None:
    tenure = [str(number) for number in range(20)]
    tenure[3] = "n/a?"
    frame = _table(id=["same"] * 20, tenure=tenure, Churn=["Yes", "No", "Maybe"] + ["No"] * 17)
    with pytest.raises(DataError) as error:
        prepare_training_table(frame, ColumnRoles(id="id"), "t.csv")
    message = str(error.value)
    assert message.startswith("t.csv: ")
    assert "tenure" in message and "repeats" in message and "has 3 values" in message

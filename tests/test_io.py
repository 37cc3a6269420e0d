"""Reading customer files: format from content, quirks handled, damage named."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from aura_sentinel.errors import DataError, UsageError
from aura_sentinel.io import (
    atomic_write,
    read_customer_batches,
    read_customers,
    sniff_format,
    write_table,
)
from aura_sentinel.outputs import FolderOutput, replaced_together


def test_csv_text_under_an_xls_name_is_read_as_csv(tmp_path: Path, customers: pl.DataFrame) -> None:
    path = tmp_path / "dataset.xls"
    customers.write_csv(path)
    assert sniff_format(path) == "csv"
    assert read_customers(path).height == customers.height


def test_real_biff_xls_is_read_with_its_values(tmp_path: Path, customers: pl.DataFrame) -> None:
    path = tmp_path / "customers.xls"
    write_table(customers.head(50), path)
    assert sniff_format(path) == "xls"
    frame = read_customers(path)
    assert frame.columns == customers.columns
    assert frame.get_column("customerID").to_list() == customers.head(50)["customerID"].to_list()
    assert frame.get_column("tenure").to_list() == pytest.approx(
        customers.head(50)["tenure"].to_list()
    )


def test_xlsx_is_read(tmp_path: Path, customers: pl.DataFrame) -> None:
    path = tmp_path / "customers.xlsx"
    customers.head(40).write_excel(path)
    assert sniff_format(path) == "xlsx"
    frame = read_customers(path)
    assert frame.height == 40
    assert frame.get_column("Contract").to_list() == customers.head(40)["Contract"].to_list()


def test_parquet_is_read_even_under_a_csv_name(tmp_path: Path, customers: pl.DataFrame) -> None:
    path = tmp_path / "looks_like.csv"
    customers.write_parquet(path)
    assert sniff_format(path) == "parquet"
    assert read_customers(path).height == customers.height


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_names_with_glob_characters_are_read_literally(
    tmp_path: Path, customers: pl.DataFrame, file_format: str
) -> None:
    path = tmp_path / f"customers [march]*?.{file_format}"
    write_table(customers, path)
    assert read_customers(path).height == customers.height
    assert sum(batch.height for batch in read_customer_batches(path, 100)) == customers.height


def test_blank_cells_become_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("id,tenure,TotalCharges,Churn\na,0, ,No\nb,5,100.5,Yes\n")
    frame = read_customers(path)
    assert frame.get_column("TotalCharges").to_list() == [None, "100.5"]


def test_surrounding_whitespace_is_stripped_from_names_and_cells(tmp_path: Path) -> None:
    path = tmp_path / "spaces.csv"
    path.write_text(" id , Contract \n a ,  One year \n")
    frame = read_customers(path)
    assert frame.columns == ["id", "Contract"]
    assert frame.row(0) == ("a", "One year")


def test_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,Churn\n1,Yes\n".encode())
    assert read_customers(path).columns == ["id", "Churn"]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_and_tab_separated_files_are_read(tmp_path: Path, separator: str) -> None:
    path = tmp_path / "table.csv"
    path.write_text(separator.join(["id", "Contract", "Churn"]) + "\n" + separator.join("1xY"))
    assert read_customers(path).columns == ["id", "Contract", "Churn"]


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_customers(tmp_path / "absent.csv")


def test_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a folder"):
        read_customers(tmp_path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_customers(path)


def test_header_without_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("customerID,tenure,Churn\n")
    with pytest.raises(DataError, match="no customers"):
        read_customers(path)


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataError, match="not a CSV, Excel or Parquet file"):
        read_customers(path)


def test_truncated_xlsx_is_refused(tmp_path: Path, customers: pl.DataFrame) -> None:
    path = tmp_path / "cut.xlsx"
    customers.write_excel(path)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match="cannot be read as XLSX"):
        read_customers(path)


def test_duplicate_column_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dupes.csv"
    path.write_text("id,Churn, Churn\n1,Yes,No\n")
    with pytest.raises(DataError, match="duplicate column names: Churn"):
        read_customers(path)


def test_failed_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old")

    def fail_halfway(target: Path) -> None:
        target.write_text("half")
        raise OSError("disk full")

    with pytest.raises(UsageError, match=r"out\.csv: cannot be written \(disk full\)"):
        atomic_write(path, fail_halfway)
    assert path.read_text() == "old"
    assert [item.name for item in tmp_path.iterdir()] == ["out.csv"]


def test_failed_folder_write_leaves_the_old_folder_and_no_staging(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "bundle.json").write_text("old")
    folder = FolderOutput(models, owns=lambda name: True)
    with pytest.raises(KeyboardInterrupt), replaced_together([], folder=folder) as staged:
        assert staged.folder is not None
        (staged.folder / "bundle.json").write_text("new")
        raise KeyboardInterrupt
    assert (models / "bundle.json").read_text() == "old"
    assert [item.name for item in tmp_path.iterdir()] == ["models"]


def test_successful_folder_write_replaces_the_old_folder(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "stale.txt").write_text("old")
    with replaced_together([], folder=FolderOutput(models, owns=lambda name: True)) as staged:
        assert staged.folder is not None
        (staged.folder / "bundle.json").write_text("new")
    assert sorted(item.name for item in models.iterdir()) == ["bundle.json"]
    assert [item.name for item in tmp_path.iterdir()] == ["models"]

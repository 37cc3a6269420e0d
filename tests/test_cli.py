"""The command line: one clear line and exit code 2 for bad input, nothing existing overwritten."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from conftest import REPO, run_cli


def _customers_with(change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        from aura_sentinel.demo import generate_customers

        path = folder / "input.csv"
        change(generate_customers(200, seed=1).cast({"tenure": pl.String})).write_csv(path)
        return path

    return make


# Bad training input through the command line. The cases test_bad_input.py covers with the same
# checks (a missing file, a folder, an empty file, the target missing, with one class or three
# values, repeated ids) are not repeated here.
BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "garbage bytes": (
        lambda folder: (folder / "g.xls").write_bytes(bytes(range(256)) * 8) and folder / "g.xls",
        "not a CSV, Excel or Parquet file",
    ),
    "text in a number column": (
        _customers_with(
            lambda frame: frame.with_columns(
                tenure=pl.when(pl.int_range(pl.len()) == 9).then(pl.lit("ten")).otherwise("tenure")
            )
        ),
        "column 'tenure': text 'ten' in a number column (row 10 after the header)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_training_input_gives_one_line_exit_2_and_keeps_the_models(
    case: str, tmp_path: Path
) -> None:
    make_input, expected = BAD_INPUTS[case]
    models = tmp_path / "models"
    shutil.copytree(REPO / "models", models)
    before = {path.name: path.read_bytes() for path in models.iterdir()}
    data_folder = tmp_path / "in"
    data_folder.mkdir()
    result = run_cli("train", str(make_input(data_folder)), "--models", str(models))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert expected in result.stderr
    assert " — " in result.stderr  # says what to do
    assert "Traceback" not in result.stderr + result.stdout
    assert {path.name: path.read_bytes() for path in models.iterdir()} == before


def test_train_with_another_schema_uses_target_id_and_exclude(tmp_path: Path) -> None:
    from aura_sentinel.demo import generate_customers

    frame = generate_customers(400, seed=5).rename(
        {"Churn": "left_bank", "customerID": "account", "tenure": "months"}
    )
    frame = frame.with_columns(pl.lit("x").alias("batch_label"))
    data = tmp_path / "bank.parquet"
    frame.write_parquet(data)
    result = run_cli(
        "train", str(data), "--models", str(tmp_path / "m"), "--target", "left_bank",
        "--id", "account", "--exclude", "gender", "--folds", "3", "--skip-policy",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    manifest = (tmp_path / "m" / "bundle.json").read_text()
    assert '"target": "left_bank"' in manifest
    assert '"name": "gender"' not in manifest
    assert '"name": "months"' in manifest
    assert "batch_label" in result.stdout  # dropped with a note


def test_leaking_column_is_named_in_a_warning(tmp_path: Path) -> None:
    from aura_sentinel.demo import generate_customers

    # A perfect leak lets the log loss fall for thousands of rounds: keep the table small.
    frame = generate_customers(200, seed=5)
    frame = frame.with_columns(pl.col("Churn").alias("Churn Label"))
    data = tmp_path / "leaky.csv"
    frame.write_csv(data)
    result = run_cli(
        "train", str(data), "--models", str(tmp_path / "m"), "--folds", "2", "--skip-policy"
    )
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stdout and "'Churn Label'" in result.stdout
    assert "--exclude 'Churn Label'" in " ".join(result.stdout.split())


def test_train_defaults_use_the_shipped_data_and_write_models_here(tmp_path: Path) -> None:
    result = run_cli("train", "--folds", "2", "--skip-policy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dataset.xls" in result.stdout
    assert (tmp_path / "models" / "bundle.json").is_file()


def test_long_paths_print_whole_on_a_narrow_terminal(tmp_path: Path, customers_csv: Path) -> None:
    folder = tmp_path / ("a-folder-with-a-long-name-" * 3)
    folder.mkdir()
    data = shutil.copy(customers_csv, folder / "customers [march].csv")
    models = folder / "models"
    result = run_cli(
        "train",
        str(data),
        "--models",
        str(models),
        "--folds",
        "2",
        "--skip-policy",
        columns=40,
    )
    assert result.returncode == 0, result.stderr
    assert str(data) in result.stdout and str(models) in result.stdout


def test_demo_data_writes_the_requested_rows(tmp_path: Path) -> None:
    out = tmp_path / "demo.parquet"
    result = run_cli("demo-data", "--rows", "250", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert pl.read_parquet(out).height == 250


def test_demo_data_refuses_too_many_rows_for_xls(tmp_path: Path) -> None:
    result = run_cli("demo-data", "--rows", "70000", "--out", str(tmp_path / "big.xls"))
    assert result.returncode == 2
    assert "do not fit in an .xls sheet" in result.stderr
    assert not list(tmp_path.iterdir())


def test_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "demo-data"):
        assert command in result.stdout


def test_train_prints_the_policy_table_and_writes_the_policy(tmp_path: Path) -> None:
    config = tmp_path / "policy.toml"
    config.write_text("[dqn]\niterations = 200\nhidden = 16\n[simulator]\nmargin = 0.4\n")
    data = tmp_path / "customers.csv"
    from aura_sentinel.demo import generate_customers

    generate_customers(500, seed=2).write_csv(data)
    result = run_cli(
        "train", str(data), "--models", str(tmp_path / "m"), "--folds", "3",
        "--policy-config", str(config),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Gain ratio" in result.stdout and "risk rule" in result.stdout
    assert (tmp_path / "m" / "policy.pt").is_file()
    assert '"margin": 0.4' in (tmp_path / "m" / "bundle.json").read_text()


def test_a_bad_policy_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "policy.toml"
    config.write_text("[simulator]\ndiscount = 2\n")
    result = run_cli("train", "--policy-config", str(config), "--models", str(tmp_path / "m"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "simulator.discount is 2.0, allowed 0 < x < 1" in result.stderr
    assert not (tmp_path / "m").exists()

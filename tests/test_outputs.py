"""What a command writes is checked against what it reads, and replaced all together or not at all.

Each case once destroyed or changed a user's file, left a temporary file, or printed more than one
line; the command-line cases run the real entry point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from aura_sentinel.demo import generate_customers
from aura_sentinel.errors import UsageError
from aura_sentinel.outputs import FolderOutput, check_outputs, replaced_together

from conftest import REPO, run_cli

MODELS = REPO / "models"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b"<folder>"
        for path in sorted(folder.rglob("*"))
    }


def _one_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.fixture
def customers_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv.json"  # a CSV under a name like a run record's
    generate_customers(200, seed=5).write_csv(path)
    return path


def test_results_whose_run_record_would_be_the_input_are_refused(
    tmp_path: Path, customers_file: Path
) -> None:
    """`score in.csv.json --out in.csv` once replaced the input with the run record."""
    before = _snapshot(tmp_path)
    result = run_cli("score", str(customers_file), "--out", str(tmp_path / "in.csv"))
    _one_line(result, "is also an input")
    assert _snapshot(tmp_path) == before


def test_an_output_hard_linked_to_the_input_is_refused(
    tmp_path: Path, customers_file: Path
) -> None:
    link = tmp_path / "results.csv"
    os.link(customers_file, link)
    before = _snapshot(tmp_path)
    _one_line(run_cli("score", str(customers_file), "--out", str(link)), "is also an input")
    assert _snapshot(tmp_path) == before


def test_an_output_symlinked_to_the_input_is_refused(tmp_path: Path, customers_file: Path) -> None:
    link = tmp_path / "results.csv"
    link.symlink_to(customers_file)
    before = _snapshot(tmp_path)
    _one_line(run_cli("score", str(customers_file), "--out", str(link)), "is also an input")
    assert _snapshot(tmp_path) == before


def test_a_symlinked_output_is_written_through_and_stays_a_link(
    tmp_path: Path, customers_file: Path
) -> None:
    target = tmp_path / "elsewhere" / "results.csv"
    target.parent.mkdir()
    target.write_text("old results\n")
    link = tmp_path / "results.csv"
    link.symlink_to(target)
    result = run_cli("score", str(customers_file), "--out", str(link), "--quiet")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert pl.read_csv(target).height == 200
    assert (tmp_path / "results.csv.json").is_file()  # the record sits beside the name given
    assert not list(tmp_path.rglob(".*tmp"))


def test_a_report_over_its_own_results_is_refused(tmp_path: Path, customers_file: Path) -> None:
    """`report results.html --html results.html` once overwrote the results with the report."""
    results = tmp_path / "results.html"
    scored = run_cli("score", str(customers_file), "--out", str(tmp_path / "r.csv"), "--quiet")
    assert scored.returncode == 0, scored.stderr
    (tmp_path / "r.csv").rename(results)
    before = _snapshot(tmp_path)
    _one_line(run_cli("report", str(results), "--html", str(results)), "is also an input")
    assert _snapshot(tmp_path) == before


def test_a_name_near_the_limit_writes_both_outputs(tmp_path: Path, customers_file: Path) -> None:
    """A 215-character name: its temporary name once overflowed the 255-byte limit after the
    results had already been replaced."""
    out = tmp_path / ("r" * 211 + ".csv")
    result = run_cli("score", str(customers_file), "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    assert pl.read_csv(out).height == 200
    assert out.with_name(out.name + ".json").is_file()


def test_an_output_whose_run_record_name_is_too_long_changes_nothing(
    tmp_path: Path, customers_file: Path
) -> None:
    out = tmp_path / ("r" * 248 + ".csv")  # the results fit in 255 bytes, "<results>.json" not
    out.write_text("earlier results\n")
    before = _snapshot(tmp_path)
    _one_line(run_cli("score", str(customers_file), "--out", str(out)), "longer than 255")
    assert _snapshot(tmp_path) == before


def test_outputs_are_replaced_together_or_not_at_all(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    second.write_text("old b")
    with pytest.raises(RuntimeError), replaced_together([], [first, second]) as staged:
        staged[first].write_text("new a")
        raise RuntimeError("the second output failed")
    assert (first.read_text(), second.read_text()) == ("old a", "old b")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt"]
    with replaced_together([], [first, second]) as staged:
        staged[first].write_text("new a")
        staged[second].write_text("new b")
    assert (first.read_text(), second.read_text()) == ("new a", "new b")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_an_interruption_leaves_every_output_as_it_was(tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("old a")
    with pytest.raises(KeyboardInterrupt), replaced_together([], [first, second]) as staged:
        staged[first].write_text("new a")
        raise KeyboardInterrupt
    assert first.read_text() == "old a" and not second.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.txt"]


def test_a_folder_holding_other_files_is_never_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "bundle.json").write_text("{}")
    (folder / "customers.csv").write_text("my data")
    bundle = FolderOutput(folder, owns=lambda name: name == "bundle.json")
    with pytest.raises(UsageError, match=r"customers\.csv"):
        check_outputs([], folder=bundle)
    assert (folder / "customers.csv").read_text() == "my data"


def test_a_folder_output_may_not_hold_or_be_an_input(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "part.parquet").write_text("data")
    parquet = FolderOutput(folder, owns=lambda name: name.endswith(".parquet"))
    with pytest.raises(UsageError, match="replace an input"):
        check_outputs([folder / "part.parquet"], folder=parquet)
    with pytest.raises(UsageError, match="replace an input"):
        check_outputs([folder], folder=parquet)


def test_a_symlinked_folder_is_replaced_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "bundle.json").write_text("old")
    link = tmp_path / "models"
    link.symlink_to(real)
    bundle = FolderOutput(link, owns=lambda name: name == "bundle.json")
    with replaced_together([], folder=bundle) as staged:
        assert staged.folder is not None
        (staged.folder / "bundle.json").write_text("new")
    assert link.is_symlink() and (real / "bundle.json").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["models", "real"]


def test_training_into_a_symlinked_folder_keeps_the_link_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    data = tmp_path / "customers.csv"
    generate_customers(300, seed=4).write_csv(data)
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "models"
    link.symlink_to(real)
    result = run_cli("train", str(data), "--models", str(link), "--skip-policy")
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and (real / "bundle.json").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["customers.csv", "models", "real"]


def test_training_into_the_data_folder_holding_a_bundle_deletes_nothing(tmp_path: Path) -> None:
    """`train data/customers.csv --models data/` once deleted the training data."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("bundle.json", "churn_model.ubj", "policy.pt"):
        (folder / name).write_bytes((MODELS / name).read_bytes())
    data = folder / "customers.csv"
    generate_customers(300, seed=4).write_csv(data)
    before = _snapshot(tmp_path)
    result = run_cli("train", str(data), "--models", str(folder), "--skip-policy")
    _one_line(result, "customers.csv")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["score", "--budget", "abc"], "--budget"),
        (["score", "--no-such-option"], "--no-such-option"),
        (["scor"], "No such command"),
        (["demo-data", "--rows", "many"], "--rows"),
        (["score", "--budget", "nan"], "--budget"),
        (["score", "--budget", "inf"], "--budget"),
        (["demo-data", "--seed", "-1"], "--seed"),
        (["demo-data", "--rows", "10000000000"], "--rows"),
        (["demo-data", "--rows", "70000", "--out", "big.xls"], "do not fit"),
    ],
)
def test_usage_errors_are_one_line(arguments: list[str], expected: str, tmp_path: Path) -> None:
    result = run_cli(*arguments, cwd=tmp_path)
    _one_line(result, expected)
    assert list(tmp_path.iterdir()) == []


def _start(arguments: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "aura_sentinel", *arguments],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_while_scoring_leaves_no_partial_file(tmp_path: Path) -> None:
    data = tmp_path / "customers.parquet"
    generate_customers(150_000, seed=2).write_parquet(data)
    results = tmp_path / "results.csv"
    results.write_text("earlier results\n")
    before = _snapshot(tmp_path)
    process = _start(["score", str(data), "--out", str(results), "--batch-rows", "20000"], tmp_path)
    deadline = time.monotonic() + 60
    while not any(tmp_path.glob(".results.csv.*.tmp")) and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("terminated: "), stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("delay", [0.06, 0.1, 0.15, 0.25])
def test_ctrl_c_while_starting_is_one_line(delay: float, tmp_path: Path) -> None:
    process = _start(["score", "--out", str(tmp_path / "r.csv")], tmp_path)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    if process.returncode == 0:  # finished before the signal arrived: a fast machine
        return
    assert process.returncode in (130, -signal.SIGINT), stderr
    assert stderr.count("\n") <= 1, stderr
    assert not list(tmp_path.glob(".*")), list(tmp_path.iterdir())


def test_quiet_runs_print_nothing_on_success(tmp_path: Path) -> None:
    results = tmp_path / "results.csv"
    scored = run_cli("score", "--out", str(results), "--quiet", cwd=tmp_path)
    assert (scored.returncode, scored.stdout, scored.stderr) == (0, "", "")
    report = run_cli("report", str(results), "--html", str(tmp_path / "r.html"), "--quiet")
    assert (report.returncode, report.stdout, report.stderr) == (0, "", "")


def test_the_shipped_data_and_models_are_found_in_a_source_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editable install runs the package from src/ of the checkout, not from a wheel."""
    from aura_sentinel import shipped

    checkout = tmp_path / "checkout"
    (checkout / "src" / "aura_sentinel").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "data").mkdir()
    (checkout / "data" / "dataset.xls").write_text("demo")
    (checkout / "models").mkdir()
    (checkout / "models" / "bundle.json").write_text("{}")
    monkeypatch.setattr(shipped.resources, "files", lambda _: checkout / "src" / "aura_sentinel")
    monkeypatch.chdir(tmp_path)
    assert shipped.default_data() == checkout / "data" / "dataset.xls"
    assert shipped.default_models() == checkout / "models"


def test_a_failure_to_read_an_input_is_not_called_a_failure_to_write(tmp_path: Path) -> None:
    output = tmp_path / "results.csv"
    with pytest.raises(FileNotFoundError), replaced_together([], [output]):
        (tmp_path / "vanished.csv").read_text()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_names_the_output(tmp_path: Path) -> None:
    output = tmp_path / "results.csv"
    full = pytest.raises(UsageError, match=r"results\.csv: cannot be written")
    with full, replaced_together([], [output]):
        raise OSError(28, "No space left on device")
    assert list(tmp_path.iterdir()) == []

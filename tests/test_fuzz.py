"""Fuzz: hostile customer tables, results and options through `train`, `score` and `report`.

Every run must keep the output contract: exit 0 with valid outputs, or exit 2 with one line
`error: ...` on stderr and nothing changed; never exit 1, a signal or a traceback; never a
temporary file left, an input changed, or an existing output replaced by a failed run.

Commands run in this process through `aura_sentinel.cli:main` (see fuzz_cli.py for why, and
`AURA_FUZZ_RUNNER=subprocess` to run them as `python -m aura_sentinel` instead).

Profiles: the default is short and deterministic (for CI), and tries the failures found before
first; `AURA_FUZZ=long` (what `nox -s fuzz` sets) randomises, runs many more examples
(`AURA_FUZZ_EXAMPLES` scales the counts) and shrinks a failure to a minimal example;
`AURA_FUZZ_SURVEY=1` goes on after failures and lists one example of every kind at the end.

A failure shows its command line (run it as shown), the files it used (kept under
`AURA_FUZZ_DIR`, default the temporary folder) and the recipe: the drawn `HostileFile`, which
`fuzz_tables.write_file(spec, folder)` turns into the same file again (`nan`/`inf` in a recipe
stand for `float("nan")`/`float("inf")`). `AURA_FUZZ_LOG=FILE` appends every failing example to
FILE as JSON lines; `AURA_FUZZ_TRACE=FILE` every run's exit code and stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from fuzz_cli import Expectation, check, example_folder, run, surveyed
from fuzz_tables import (
    HOSTILE_NUMBERS,
    HOSTILE_TEXTS,
    AppendRows,
    CastColumn,
    Change,
    DropColumn,
    HostileFile,
    SetCells,
    Unwritable,
    apply_change,
    hostile_files,
    sometimes,
    write_file,
)
from hypothesis import HealthCheck, Phase, assume, event, example, given, note, settings
from hypothesis import strategies as st

from aura_sentinel.demo import generate_customers

from conftest import REPO

SHIPPED_MODELS = REPO / "models"
LONG = os.environ.get("AURA_FUZZ") == "long"
SCALE = float(os.environ.get("AURA_FUZZ_EXAMPLES", "1"))


def _profile(ci_examples: int, long_examples: int) -> settings:
    """Deterministic and short for CI (a new failure shows up with a change, not at random);
    random, long and shrinking to a minimal example with AURA_FUZZ=long."""
    return settings(
        max_examples=max(1, int(SCALE * (long_examples if LONG else ci_examples))),
        derandomize=not LONG,
        database=None,
        deadline=None,
        print_blob=True,
        # CI tries the failures found before (explicit examples) first; the long profile goes
        # straight to new ones, and shrinks what it finds.
        phases=[Phase.generate, Phase.shrink] if LONG else [Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(autouse=True)
def _surveyed_failures() -> Iterator[None]:
    """With AURA_FUZZ_SURVEY=1 the examples go on after a failure; the test fails at its end."""
    surveyed.clear()
    yield
    assert not surveyed, f"{len(surveyed)} kinds of failure:\n\n" + "\n\n".join(surveyed.values())


def _copy_models(work: Path) -> Path:
    models = work / "models"
    shutil.copytree(SHIPPED_MODELS, models)
    return models


def _build(spec: HostileFile, folder: Path) -> tuple[Path, int | None]:
    folder.mkdir(exist_ok=True)
    try:
        return write_file(spec, folder)
    except Unwritable as limit:  # the writer cannot write this; not the tool's concern
        note(f"not writable: {limit}")
        assume(False)
        raise AssertionError("unreachable") from limit


# score ------------------------------------------------------------------------------------------

OUT_NAMES = (
    "results.csv",
    "results.csv",
    "results.parquet",
    "r\u00e9sultats [1] *?.csv",
    "r" * 248 + ".csv",  # its temporary file's name is beyond 255 bytes
    "r" * 211 + ".csv",  # its own temporary file fits in 255 bytes, its run record's does not
    "results",
    "results.xlsx",
    "results.CSV",
    "the input",
    "the input's .json",
    "a folder",
    "a symlink to the input",
    "a dangling symlink",
    "in a missing folder",
)


@dataclass(frozen=True)
class ScoreOptions:
    out: str = "results.csv"
    beside_input: bool = False
    existing_output: bool = False
    budget: str | None = None
    high: str | None = None
    medium: str | None = None
    batch_rows: str | None = None
    no_explain: bool = False
    quiet: bool = True
    then_report: bool = False


BUDGETS = ("0", "100", "1e308", "1e400", "-1", "nan", "inf", "-inf", "5e-324", "ten")
score_options = st.builds(
    ScoreOptions,
    out=sometimes(st.sampled_from(OUT_NAMES), "results.csv", 2),
    beside_input=st.booleans(),
    existing_output=st.booleans(),
    budget=sometimes(
        st.sampled_from(
            ("0", "100", "1e308", "1e400", "-1", "nan", "inf", "-inf", "5e-324", "ten")
        ),
        None,
        3,
    ),
    high=sometimes(
        st.sampled_from(("0", "1", "0.5", "0.3", "nan", "inf", "-1", "2", "1e-320")), None, 4
    ),
    medium=sometimes(st.sampled_from(("0", "1", "0.5", "0.6", "nan", "-inf", "-1", "2")), None, 4),
    batch_rows=sometimes(
        st.sampled_from(("1", "2", "7", "0", "-1", "1000000000000000000000")), None, 3
    ),
    no_explain=st.booleans(),
    quiet=st.booleans(),
    then_report=sometimes(st.just(True), False, 4),
)


def _out_path(name: str, folder: Path, data: Path) -> Path:
    special = {
        "the input": data,
        "the input's .json": data.with_name(data.name + ".json"),
        "a folder": folder,
        "in a missing folder": folder / "absent" / "results.csv",
    }
    if name in special:
        return special[name]
    if name == "a symlink to the input":
        (folder / "link.csv").symlink_to(data)
        return folder / "link.csv"
    if name == "a dangling symlink":
        (folder / "dangling.csv").symlink_to(folder / "nowhere.csv")
        return folder / "dangling.csv"
    return folder / name


def _put_earlier_output(out: Path) -> None:
    """A results file and run record from an earlier run, which a failed run must keep."""
    for path, text in ((out, "CustomerID,ChurnProbability\nearlier,0.5\n"), (_record(out), "{}\n")):
        with contextlib.suppress(OSError):  # a name beyond the file system's limit
            if not path.exists() and not path.is_symlink() and path.parent.is_dir():
                path.write_text(text)


def _record(results: Path) -> Path:
    return results.with_name(results.name + ".json")


def _score_args(data: Path, out: Path, models: Path, options: ScoreOptions) -> list[str]:
    args = ["score", str(data), "--models", str(models), "--out", str(out)]
    for flag, value in (
        ("--budget", options.budget),
        ("--high", options.high),
        ("--medium", options.medium),
        ("--batch-rows", options.batch_rows),
    ):
        if value is not None:
            args += [flag, value]
    if options.no_explain:
        args.append("--no-explain")
    if options.quiet:
        args.append("--quiet")
    return args


def score_and_check(
    work: Path, data: Path, customers: int | None, models: Path, options: ScoreOptions, recipe: str
) -> Path | None:
    """Score `data` and check the contract; return the results file when scoring succeeded."""
    folder = data.parent if options.beside_input else work / "out"
    folder.mkdir(exist_ok=True)
    out = _out_path(options.out, folder, data)
    if options.existing_output:
        _put_earlier_output(out)
    target = out.resolve()
    expect = Expectation(
        "score",
        watched=[work],
        protected=[data, models],
        # Writing through a symlink to its target is fine (unless the target is an input).
        outputs=[out, _record(out), *([target, _record(target)] if out.is_symlink() else [])],
        quiet=options.quiet,
        customers=customers,
        results=out,
    )
    expect.start()
    outcome = run(_score_args(data, out, models, options), work)
    note(f"score: {outcome.command_line} -> {outcome.code}")
    event(f"score exit {outcome.code}")
    check(outcome, expect, recipe)
    return out if outcome.code == 0 else None


def report_and_check(
    work: Path, results: Path, models: Path | None, html: Path, quiet: bool, recipe: str
) -> None:
    args = ["report", str(results), "--html", str(html)]
    if models is not None:
        args += ["--models", str(models)]
    if quiet:
        args.append("--quiet")
    protected = [results, _record(results), *([models] if models is not None else [])]
    expect = Expectation("report", watched=[work], protected=protected, outputs=[html], html=html)
    expect.quiet = quiet
    expect.start()
    outcome = run(args, work)
    note(f"report: {outcome.command_line} -> {outcome.code}")
    event(f"report exit {outcome.code}")
    check(outcome, expect, recipe)


# Failures the fuzz test found, kept as explicit examples that every run tries first.
FOUND_FOR_SCORE = (
    # A column with no value at all in an .xlsx: the Excel reader's warning reached stderr.
    HostileFile(1, 0, False, (CastColumn("PaymentMethod", "null"),), "xlsx"),
    # No customerID column in a Parquet file: exit 1 (ColumnNotFoundError).
    HostileFile(24, 256, False, (DropColumn("customerID"),), "parquet"),
)


def _with_found(test: Callable[..., None]) -> Callable[..., None]:
    for spec in FOUND_FOR_SCORE:
        test = example(spec=spec, options=ScoreOptions(quiet=True))(test)
    return test


@given(spec=hostile_files(), options=score_options)
@_with_found
@_profile(ci_examples=40, long_examples=3000)
def test_score_keeps_the_output_contract_on_hostile_tables(
    spec: HostileFile, options: ScoreOptions
) -> None:
    with example_folder("score") as work:
        data, customers = _build(spec, work / "in")
        models = _copy_models(work)
        recipe = f"write_file({spec!r}, folder) with {options!r}"
        results = score_and_check(work, data, customers, models, options, recipe)
        if results is not None and options.then_report:
            html = work / "out" / "report.html"
            html.parent.mkdir(exist_ok=True)
            report_and_check(work, results, models, html, options.quiet, recipe)


# report -----------------------------------------------------------------------------------------

RESULT_COLUMNS = (
    "CustomerID",
    "ChurnProbability",
    "RiskLevel",
    "ActionID",
    "RecommendedAction",
    "ActionCost",
    "ExpectedValue",
    "ExpectedGain",
    "Contract",
    "TopDrivers",
    "Tenure",
    "MonthlyCharges",
    "Churn",
)
RESULT_VALUES = (
    "",
    "nan",
    "inf",
    "-1",
    "2",
    "1e300",
    "x",
    "BAD",
    "HIGH",
    "9",
    "-0.0",
    "=SUM(1)",
    "Yes",
    "Maybe",
    *HOSTILE_TEXTS[:8],
    *HOSTILE_NUMBERS[:6],
)
RECORD_CHANGES = ("keep", "keep", "match the results", "delete", "garbage", "NaN", "version 99")
HTML_NAMES = ("report.html", "r [1] *?.htm", "report.txt", "a folder", "h" * 250 + ".html")


@dataclass(frozen=True)
class ReportCase:
    rows: int
    seed: int
    parquet: bool
    no_explain: bool
    budget: str | None
    with_target: bool
    changes: tuple[Change, ...]
    record: str
    html: str
    existing_html: bool
    name_models: bool
    quiet: bool


_result_changes = st.one_of(
    st.builds(
        SetCells,
        st.sampled_from(RESULT_COLUMNS),
        st.sampled_from(RESULT_VALUES),
        st.lists(st.integers(0, 1000), min_size=1, max_size=5).map(tuple),
    ),
    st.builds(DropColumn, st.sampled_from(RESULT_COLUMNS)),
    st.builds(AppendRows, st.integers(1, 3), st.booleans()),
)
report_cases = st.builds(
    ReportCase,
    rows=st.integers(1, 40),
    seed=st.integers(0, 1000),
    parquet=st.booleans(),
    no_explain=st.booleans(),
    budget=st.none() | st.sampled_from(("0", "50")),
    with_target=st.booleans(),
    changes=st.lists(_result_changes, max_size=3).map(tuple),
    record=st.sampled_from(RECORD_CHANGES),
    html=st.sampled_from(HTML_NAMES),
    existing_html=st.booleans(),
    name_models=st.booleans(),
    quiet=st.booleans(),
)


def _spoil_results(results: Path, case: ReportCase) -> None:
    if not case.changes:
        return
    frame = pl.read_parquet(results) if case.parquet else pl.read_csv(results, infer_schema=False)
    for change in case.changes:
        frame = apply_change(frame, change)
    if case.parquet:
        frame.write_parquet(results)
    else:
        frame.write_csv(results)


def _spoil_record(results: Path, change: str) -> None:
    record = _record(results)
    if change == "delete":
        record.unlink()
    elif change == "garbage":
        record.write_bytes(b"{\x00not json")
    elif change in ("match the results", "NaN", "version 99"):
        content = json.loads(record.read_text())
        content["results_bytes"] = results.stat().st_size
        if change == "NaN":
            content["high"] = float("nan")
            content["driver_weight"] = {"tenure": float("inf")}
        if change == "version 99":
            content["version"] = 99
        record.write_text(json.dumps(content))


@given(case=report_cases)
@_profile(ci_examples=6, long_examples=400)
def test_report_keeps_the_output_contract_on_hostile_results(case: ReportCase) -> None:
    with example_folder("report") as work:
        inputs = work / "in"
        inputs.mkdir()
        data = inputs / "customers.csv"
        table = generate_customers(case.rows, case.seed)
        (table if case.with_target else table.drop("Churn")).write_csv(data)
        models = _copy_models(work)
        results = work / "out" / ("results.parquet" if case.parquet else "results.csv")
        options = ScoreOptions(results.name, budget=case.budget, no_explain=case.no_explain)
        recipe = f"{case!r}"
        assert score_and_check(work, data, case.rows, models, options, recipe) == results
        _spoil_results(results, case)
        _spoil_record(results, case.record)
        html = work / "out" if case.html == "a folder" else work / "out" / case.html
        if case.existing_html and not html.exists():
            html.write_text("an earlier report")
        report_and_check(
            work, results, models if case.name_models else None, html, case.quiet, recipe
        )


# train ------------------------------------------------------------------------------------------


@given(
    spec=hostile_files(
        rows=st.integers(min_value=20, max_value=40) | st.sampled_from((0, 1, 8)),
        widest=30,  # training time grows with the columns
    ),
    existing_bundle=st.booleans(),
    folds=st.sampled_from(("2", "2", "3", "1", "0")),
)
@example(spec=HostileFile(20, 0, False, (), "csv"), existing_bundle=True, folds="2")  # it trains
@_profile(ci_examples=2, long_examples=60)
def test_train_keeps_the_output_contract_on_hostile_tables(
    spec: HostileFile, existing_bundle: bool, folds: str
) -> None:
    with example_folder("train") as work:
        data, customers = _build(spec, work / "in")
        models = work / "trained"
        if existing_bundle:
            shutil.copytree(SHIPPED_MODELS, models)
        expect = Expectation("train", watched=[work], protected=[data], outputs=[models])
        expect.bundle = models
        expect.start()
        args = ["train", str(data), "--models", str(models), "--skip-policy", "--folds", folds]
        outcome = run(args, work)
        note(f"train: {outcome.command_line} -> {outcome.code}")
        event(f"train exit {outcome.code}")
        recipe = f"write_file({spec!r}, folder)"
        check(outcome, expect, recipe)
        if outcome.code == 0:  # the new bundle scores the table it was trained on
            options = ScoreOptions(
                "results.csv", False, False, None, None, None, None, False, True, False
            )
            score_and_check(work, data, customers, models, options, recipe)

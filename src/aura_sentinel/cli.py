"""The `aura-sentinel` command line. Parses options, calls the library, renders; nothing else.

Heavy libraries (xgboost, torch) are imported inside the commands that need them, so that
`aura-sentinel --help` answers at once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from aura_sentinel.errors import AuraError, UsageError
from aura_sentinel.stopping import STOP_SIGNALS, Interrupted

DEFAULT_RESULTS = Path("retention_strategy_results.csv")


class Engine(str, Enum):
    local = "local"
    ray = "ray"


app = typer.Typer(
    name="aura-sentinel",
    help="Turn a customer table into a retention plan: a churn model and a retention policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Parameters = ParamSpec("Parameters")
Returned = TypeVar("Returned")


def _interruptible(command: Callable[Parameters, Returned]) -> Callable[Parameters, Returned]:
    """Ctrl-C during a Polars query ends like any other: Polars raises KeyboardInterrupt."""

    @functools.wraps(command)
    def run(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Returned:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as interrupt:
            raise Interrupted(signal.SIGINT) from interrupt

    return run


DataArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Customer file: CSV, .xls, .xlsx or Parquet (format read from the content). "
        "Default: ./data/dataset.xls if present, else the shipped demo table.",
        show_default=False,
    ),
]


ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="Threads to use, 1-256; the results are the same for any number. Default: this "
        "machine's cores, at most 8.",
        show_default=False,
    ),
]


def _threads(threads: int | None) -> int:
    """The --threads count, checked. Polars and OpenMP read their settings once, when loaded, so
    they are set here, before the command imports Polars, XGBoost and torch (a library caller
    sets POLARS_MAX_THREADS and OMP_WAIT_POLICY itself).

    OpenMP threads that wait passively sleep instead of spinning: on a busy machine a spinning
    thread keeps the core from the thread it waits for (XGBoost on 2 threads under load: 31 s
    spinning, 1 s passive)."""
    from aura_sentinel.threads import check_threads, default_threads

    count = default_threads() if threads is None else threads
    check_threads(count)
    if "polars" not in sys.modules:
        os.environ["POLARS_MAX_THREADS"] = str(count)
    if not {"xgboost", "torch"} & sys.modules.keys():
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return count


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback when something fails.")
    ] = False,
) -> None:
    """Turn a customer table into a retention plan: a churn model and a retention policy."""


@app.command()
@_interruptible
def train(
    data: DataArgument = None,
    models: Annotated[
        Path,
        typer.Option("--models", help="Folder to write the model bundle to (replaced atomically)."),
    ] = Path("models"),
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="Outcome column with two classes (Yes/No, 1/0, True/False). Default: Churn.",
            show_default=False,
        ),
    ] = None,
    identifier: Annotated[
        str | None,
        typer.Option(
            "--id",
            help="Customer id column. Default: customerID if present, else the row number.",
            show_default=False,
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            help="Column to leave out of the features (repeatable).",
            show_default=False,
        ),
    ] = None,
    folds: Annotated[int, typer.Option("--folds", help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same model.")] = 42,
    policy_config: Annotated[
        Path | None,
        typer.Option(
            "--policy-config",
            help="TOML file overriding the action catalog, simulator and DQN settings.",
            show_default=False,
        ),
    ] = None,
    skip_policy: Annotated[
        bool, typer.Option("--skip-policy", help="Train the churn model only.")
    ] = False,
    policy_only: Annotated[
        bool,
        typer.Option(
            "--policy-only", help="Train the policy only, reusing the churn model in --models."
        ),
    ] = False,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="ROLE=NAME: read the state field ROLE (tenure, monthly_charges, contract, ...) "
            "from the column NAME (repeatable; wins over the policy config's [columns]).",
            show_default=False,
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency",
            help="Label of the table's money (e.g. EUR, at most 12 characters), shown with "
            "every amount.",
            show_default=False,
        ),
    ] = None,
    campaigns: Annotated[
        Path | None,
        typer.Option(
            "--campaigns",
            help="Campaign log (one row per customer decision: attributes, action, outcome) to "
            "learn each action's effect from. May be DATA itself: the churn model then learns "
            "from its no-action rows. Without it, the effects are assumed.",
            show_default=False,
        ),
    ] = None,
    action_column: Annotated[
        str,
        typer.Option(
            "--action-column",
            help="The log's action column: catalog names (any case) or ids 0..A-1.",
        ),
    ] = "action",
    propensity_column: Annotated[
        str | None,
        typer.Option(
            "--propensity-column",
            help="The log's column with the probability of each logged action. Default: "
            "propensity, if present; else the probabilities are estimated.",
            show_default=False,
        ),
    ] = None,
    threads: ThreadsOption = None,
) -> None:
    """Learn the churn model and the retention policy, and write the model bundle."""
    thread_count = _threads(threads)  # before Polars is imported
    from aura_sentinel import render
    from aura_sentinel.effects.log import DEFAULT_PROPENSITY_COLUMN, LogColumns
    from aura_sentinel.retention.config import load_policy_file
    from aura_sentinel.shipped import default_data
    from aura_sentinel.training import TrainOptions
    from aura_sentinel.training import train as run_training

    console = Console()
    data_path = data if data is not None else default_data()
    policy_file = load_policy_file(policy_config)
    options = TrainOptions(
        target=target,
        identifier=identifier,
        excluded=tuple(exclude or ()),
        folds=folds,
        seed=seed,
        policy_settings=policy_file.settings,
        churn=not policy_only,
        policy=not skip_policy,
        columns={**policy_file.columns, **_column_map(column or [])},
        currency=currency,
        threads=thread_count,
        policy_config=policy_config,
        campaigns=campaigns,
        log_columns=LogColumns(
            action=action_column,
            propensity=propensity_column or DEFAULT_PROPENSITY_COLUMN,
            propensity_required=propensity_column is not None,
        ),
    )
    with render.progress_bar(console, "Training", "train") as progress:
        summary = run_training(data_path, models, options, progress)
    render.train_summary(console, summary)


def _column_map(values: list[str]) -> dict[str, str]:
    """`--column ROLE=NAME` options as role -> column name."""
    from aura_sentinel.retention.state import check_column_roles

    columns = {}
    for value in values:
        role, equals, name = value.partition("=")
        if not equals:
            raise UsageError(
                "--column",
                f"'{value}' is not ROLE=NAME",
                'write e.g. --column tenure="Tenure Months"',
            )
        columns[role.strip()] = name
    check_column_roles(columns, "--column")
    return columns


@app.command()
@_interruptible
def score(
    data: DataArgument = None,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="Model bundle folder. Default: ./models if it holds a bundle, else the shipped "
            "one.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Result file: .csv, .parquet, .json (one array) or .jsonl (one object a line); "
            "'-' writes CSV to standard output (summary to stderr, no run record). With --engine "
            "ray: a folder (default retention_strategy_results).",
        ),
    ] = DEFAULT_RESULTS,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            help="Total spend allowed on actions; customers get the plan with the most expected "
            "gain within it.",
            show_default=False,
        ),
    ] = None,
    high: Annotated[float, typer.Option("--high", help="HIGH risk above this probability.")] = 0.7,
    medium: Annotated[
        float, typer.Option("--medium", help="MEDIUM risk above this probability.")
    ] = 0.4,
    batch_rows: Annotated[
        int,
        typer.Option("--batch-rows", help="Customers per batch, 1-100,000,000 (bounds memory)."),
    ] = 200_000,
    no_explain: Annotated[
        bool,
        typer.Option("--no-explain", help="Skip the top drivers per customer (about 1.4x faster)."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="local: this process. ray: Ray Data over a Parquet file, folder or glob, "
            "writing Parquet files under --out (a folder); needs the optional ray extra.",
        ),
    ] = Engine.local,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --engine ray: the Ray cluster to join. Default: start Ray on this machine.",
            show_default=False,
        ),
    ] = None,
    threads: ThreadsOption = None,
) -> None:
    """Score every customer: churn risk, top drivers and the recommended retention action."""
    thread_count = _threads(threads)  # before Polars is imported
    from aura_sentinel import render
    from aura_sentinel.pipeline import ScoreSettings, score_file
    from aura_sentinel.results import STDOUT
    from aura_sentinel.shipped import default_data, default_models

    to_stdout = out == STDOUT
    console = Console(quiet=quiet, stderr=to_stdout)  # stdout holds nothing but the results
    data_path = data if data is not None else default_data()
    models_path = models if models is not None else default_models()
    settings = ScoreSettings(high=high, medium=medium, explain=not no_explain, threads=thread_count)
    if engine is Engine.ray:
        if to_stdout:
            raise UsageError(
                "--out -", "--engine ray writes a folder of Parquet files", "give --out a folder"
            )
        from aura_sentinel.ray_engine import score_on_ray

        folder = out if out != DEFAULT_RESULTS else Path(DEFAULT_RESULTS.stem)
        with console.status("Scoring on Ray"):
            summary = score_on_ray(str(data_path), models_path, folder, settings, address, budget)
    else:
        if address is not None:
            raise UsageError("--address", "needs --engine ray", "add --engine ray or drop it")
        with (
            render.row_counter(console, data_path, "Scoring", "score") as progress,
            _stdout_closed(to_stdout),
        ):
            target = sys.stdout.buffer if to_stdout else out
            summary = score_file(
                data_path, models_path, target, settings, budget, batch_rows, progress
            )
    render.score_summary(console, summary)


@contextlib.contextmanager
def _stdout_closed(to_stdout: bool) -> Iterator[None]:
    """A reader of `--out -` that stops early (`| head`) is one line: the results were cut."""
    try:
        yield
    except BrokenPipeError:
        if not to_stdout:
            raise
        # Nothing more can reach stdout: point it at devnull so that Python's final flush of
        # its buffer does not print a second error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise UsageError(
            "--out -",
            "standard output was closed before all results were written",
            "let the reading program read to the end, or write the results to a file",
        ) from None


@app.command()
@_interruptible
def report(
    results: Annotated[
        Path | None,
        typer.Argument(
            help="Results file from `score` (CSV, Parquet, JSON or JSON Lines). Default: "
            "./retention_strategy_results.csv or .parquet.",
            show_default=False,
        ),
    ] = None,
    models: Annotated[
        Path | None,
        typer.Option(
            "--models",
            help="Model bundle folder. Default: the one the results were scored with (named in "
            "their run record), else ./models, else the shipped one.",
            show_default=False,
        ),
    ] = None,
    html: Annotated[
        Path, typer.Option("--html", help="HTML report to write (self-contained, works offline).")
    ] = Path("retention_report.html"),
    quiet: Annotated[bool, typer.Option("--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Report on scored customers: model quality, risk, drivers, plan, cost and policy value."""
    from aura_sentinel.report import default_results, make_report, scoring_models
    from aura_sentinel.report.terminal import print_report
    from aura_sentinel.shipped import default_models

    console = Console(quiet=quiet)
    results_path = results if results is not None else default_results()
    models_path = models or scoring_models(results_path) or default_models()
    report_content, sections = make_report(results_path, models_path, html)
    print_report(console, report_content, sections)
    console.print(f"HTML report written to [bold]{escape(str(html))}[/]", soft_wrap=True)


@app.command("demo-data")
@_interruptible
def demo_data(
    rows: Annotated[
        int, typer.Option("--rows", help="Number of customers (at most 20,000,000).")
    ] = 7043,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed, 0 or more: same seed, same table.")
    ] = 42,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output file; .csv, .parquet or .xls (BIFF, at most 65,535 rows)."
        ),
    ] = Path("demo_customers.csv"),
    campaigns: Annotated[
        bool,
        typer.Option(
            "--campaigns",
            help="Write a campaign log instead (actions with known effects, one-month outcomes) "
            "and its truth beside it as <stem>.truth<suffix>.",
        ),
    ] = False,
) -> None:
    """Write a synthetic customer table in the Telco schema (for demos and benchmarks)."""
    import time

    from aura_sentinel.demo import MAX_DEMO_ROWS, generate_customers
    from aura_sentinel.io import check_table_output, write_table

    if not 1 <= rows <= MAX_DEMO_ROWS:
        raise UsageError(
            "--rows", f"{rows} is out of range", f"give 1 to {MAX_DEMO_ROWS:,} rows per file"
        )
    if seed < 0:
        raise UsageError("--seed", f"{seed} is negative", "give a seed of 0 or more")
    if campaigns:
        _write_campaign_log(rows, seed, out)
        return
    check_table_output(out, rows)
    started = time.perf_counter()
    table = generate_customers(rows, seed)
    write_table(table, out)
    churn_rate = (table.get_column("Churn") == "Yes").sum() / rows
    Console().print(
        f"Wrote {rows:,} synthetic customers (seed {seed}, churn rate {churn_rate:.1%}) "
        f"to [bold]{escape(str(out))}[/] in {time.perf_counter() - started:.1f} s.",
        soft_wrap=True,
    )


def _write_campaign_log(rows: int, seed: int, out: Path) -> None:
    """`demo-data --campaigns`: the log to `out`, its truth beside it, both or neither."""
    import time

    from aura_sentinel.demo_campaigns import generate_campaign_log, truth_path
    from aura_sentinel.io import check_table_output, write_tables

    truth_out = truth_path(out)
    check_table_output(out, rows)
    check_table_output(truth_out, rows)
    started = time.perf_counter()
    log, truth = generate_campaign_log(rows, seed)
    write_tables({out: log, truth_out: truth})
    churn_rate = (log.get_column("Churn") == "Yes").sum() / rows
    Console().print(
        f"Wrote a campaign log of {rows:,} synthetic customers (seed {seed}, churn rate "
        f"{churn_rate:.1%} within one month) to [bold]{escape(str(out))}[/] and its true churn "
        f"probabilities to [bold]{escape(str(truth_out))}[/] in "
        f"{time.perf_counter() - started:.1f} s. The log's horizon is one month: train on it "
        "with campaign_horizon_months = 1 in the \\[simulator] table of --policy-config.",
        soft_wrap=True,
    )


def main() -> None:
    """Entry point: user and system errors print one line and exit 2, Ctrl-C exits 130 and
    SIGTERM 143; anything else is a bug and exits 1. Outputs are replaced all together or not
    at all, so none of these leaves a partial file.

    Libraries' warnings (Python warnings and log records) are held until the command ends: a
    successful run prints each as one line (none with --quiet), a failed one only its error."""
    arguments = sys.argv[1:]
    debug = "--debug" in arguments
    for number in STOP_SIGNALS:
        signal.signal(number, _interrupted)
    held: list[str] = []
    try:
        with warnings.catch_warnings(), _log_records_held(held):
            warnings.showwarning = lambda message, *args, **kwargs: held.append(str(message))
            _run(debug)
    finally:  # a signal put off until after the command ended has nothing left to stop
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
    if "--quiet" not in arguments:
        for message in dict.fromkeys(held):  # each distinct warning once
            print(f"warning: {' '.join(message.split())}", file=sys.stderr)


class _Held(logging.Handler):
    def __init__(self, held: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.held = held

    def emit(self, record: logging.LogRecord) -> None:
        self.held.append(record.getMessage())


@contextlib.contextmanager
def _log_records_held(held: list[str]) -> Iterator[None]:
    """Libraries' log records of WARNING and above are held in `held`, not printed."""
    root = logging.getLogger()
    handler = _Held(held)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def _run(debug: bool) -> None:
    arguments = sys.argv[1:]
    if not [argument for argument in arguments if argument != "--debug"]:
        arguments = ["--help"]  # no command: show what there is
    try:
        app(args=arguments, standalone_mode=False)
    except typer.TyperException as error:  # a usage error: an unknown option, a bad value
        if debug:
            raise
        print(f"error: {_usage_error_text(error)}", file=sys.stderr)
        sys.exit(2)
    except AuraError as error:
        if debug:
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except Interrupted as stop:
        if debug:
            raise
        print(stop.message, file=sys.stderr)
        sys.exit(stop.exit_code)
    except OSError as error:  # a full disk, a folder we may not write to, a vanished file
        if debug:
            raise
        print(f"error: {_os_error_text(error)}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        if debug:
            raise
        first_line = (str(error).strip().splitlines() or [""])[0]
        print(
            f"internal error: {type(error).__name__}: {first_line} "
            "(run again with --debug and report it)",
            file=sys.stderr,
        )
        sys.exit(1)


def _usage_error_text(error: typer.TyperException) -> str:
    """Click's usage error in one line, with where to find help."""
    format_message = getattr(error, "format_message", lambda: str(error))
    message = " ".join(str(format_message()).split())
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "aura-sentinel"
    return f"{message} — see `{command} --help`"


# Polars runs some of its Python code as callbacks from Rust, where an exception turns into a
# panic (a Rust backtrace, exit 1): Ctrl-C there is put off and delivered again shortly.
_POLARS_CODE = f"{os.sep}polars{os.sep}"
_RETRY_SECONDS = 0.05


def _interrupted(signal_number: int, frame: FrameType | None) -> None:
    if sys.exc_info()[1] is not None:  # when already stopping, let the clean-up finish
        return
    if frame is not None and _POLARS_CODE in frame.f_code.co_filename:
        retry = threading.Timer(_RETRY_SECONDS, os.kill, (os.getpid(), signal_number))
        retry.daemon = True
        retry.start()
        return
    raise Interrupted(signal_number)


def _os_error_text(error: OSError) -> str:
    what = error.strerror or str(error).strip().splitlines()[0]
    where = f"{error.filename}: " if error.filename else ""
    return (
        f"{where}{what} — check the path, its permissions and the free disk space, then run "
        "again (no partial file was left)"
    )

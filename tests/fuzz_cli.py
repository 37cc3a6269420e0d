"""Running the real entry point for the fuzz test, and checking the output contract.

`run` calls `aura_sentinel.cli:main` in this process (about 25 times faster than a subprocess,
whose start-up imports torch and xgboost), with file descriptors 1 and 2 redirected so that even
native output (a Rust panic message) is seen. `AURA_FUZZ_RUNNER=subprocess` runs every command as
`python -m aura_sentinel` instead, to confirm a failure the way a user would see it; `train`
always runs that way (see `run`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

import polars as pl

TIMEOUT_SECONDS = 600
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8,}\.(tmp|new|old)$")
RISK_LEVELS = {"HIGH", "MEDIUM", "LOW"}


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    cwd: Path
    code: int | str
    """The exit code, or what ended the run otherwise ("signal 11", "uncaught ...")."""
    stdout: str
    stderr: str

    @property
    def command_line(self) -> str:
        quoted = " ".join(shlex.quote(arg) for arg in self.args)
        return f"cd {shlex.quote(str(self.cwd))} && python -m aura_sentinel {quoted}"


def run(args: list[str], cwd: Path) -> Outcome:
    # `train` always runs in its own process: it takes seconds anyway, and XGBoost trains several
    # times slower in a process that has loaded torch (two OpenMP runtimes compete).
    if args[0] == "train" or os.environ.get("AURA_FUZZ_RUNNER") == "subprocess":
        return _run_subprocess(args, cwd)
    return _run_in_process(args, cwd)


def _run_subprocess(args: list[str], cwd: Path) -> Outcome:
    try:
        done = subprocess.run(
            [sys.executable, "-m", "aura_sentinel", *args],
            capture_output=True,
            cwd=cwd,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome(tuple(args), cwd, f"hung for {TIMEOUT_SECONDS} s", "", "")
    code: int | str = done.returncode if done.returncode >= 0 else f"signal {-done.returncode}"
    return Outcome(tuple(args), cwd, code, _text(done.stdout), _text(done.stderr))


class _Hung(BaseException):
    pass


def _hung(signal_number: int, frame: FrameType | None) -> None:
    raise _Hung


def _run_in_process(args: list[str], cwd: Path) -> Outcome:
    from aura_sentinel import cli

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        saved_fds = os.dup(1), os.dup(2)
        saved_streams = sys.stdout, sys.stderr, sys.argv
        saved_handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGALRM)
        saved_cwd = Path.cwd()
        root = logging.getLogger()
        saved_logging = root.handlers, root.level
        code: int | str = 0
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            # Python-level writes go through the same open files as the native ones.
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
            sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
            sys.argv = ["aura-sentinel", *args]
            # As in a fresh process: no handler (a library's warning reaches stderr), level WARNING.
            root.handlers, root.level = [], logging.WARNING
            os.chdir(cwd)
            signal.signal(signal.SIGALRM, _hung)
            signal.alarm(TIMEOUT_SECONDS)
            try:
                with _warnings_as_in_a_fresh_process():
                    cli.main()
            except SystemExit as leaving:
                code = _exit_code(leaving.code)
            except _Hung:
                code = f"hung for {TIMEOUT_SECONDS} s"
            except BaseException as escaped:  # would be a traceback and exit 1 in a terminal
                code = f"uncaught {type(escaped).__name__}: {escaped}"
        finally:
            signal.alarm(0)
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdout, sys.stderr, sys.argv = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])
            signal.signal(signal.SIGINT, saved_handlers[0])
            signal.signal(signal.SIGALRM, saved_handlers[1])
            os.chdir(saved_cwd)
            root.handlers, root.level = saved_logging
        out.seek(0)
        err.seek(0)
        return Outcome(tuple(args), cwd, code, _text(out.read()), _text(err.read()))


@contextmanager
def _warnings_as_in_a_fresh_process() -> Iterator[None]:
    """Python's default warning filters, each warning printed on stderr (pytest would record
    them instead); "always", as every fresh process shows a warning at least once."""

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("always")
        for quiet in (
            DeprecationWarning,
            PendingDeprecationWarning,
            ImportWarning,
            ResourceWarning,
        ):
            warnings.simplefilter("ignore", quiet)
        warnings.showwarning = show
        yield


def _exit_code(code: object) -> int | str:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return f"exit with message {code!r}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# The contract ----------------------------------------------------------------------------------


class ContractBroken(AssertionError):
    """One way the output contract was broken; a subclass per kind, so Hypothesis reports each."""


_KINDS: dict[str, type[ContractBroken]] = {}


def broken(kind: str, message: str) -> ContractBroken:
    if kind not in _KINDS:
        _KINDS[kind] = type("ContractBroken", (ContractBroken,), {"kind": kind})
    return _KINDS[kind](f"{kind}\n{message}")


Snapshot = dict[str, bytes]


def snapshot(folders: list[Path]) -> Snapshot:
    """Every entry under the folders: file bytes, symlink targets, folders as such."""
    state: Snapshot = {}
    for folder in folders:
        for path in sorted([folder, *folder.rglob("*")]):
            if path.is_symlink():
                state[str(path)] = b"link to " + os.fsencode(os.readlink(path))
            elif path.is_dir():
                state[str(path)] = b"folder"
            elif path.exists():
                state[str(path)] = path.read_bytes()
    return state


@dataclass
class Expectation:
    """What a run may change and what it must leave alone."""

    command: str
    watched: list[Path]
    """Every folder involved: on failure nothing in them may change."""
    protected: list[Path]
    """Inputs (files or folders) that must never change."""
    outputs: list[Path]
    """What a successful run may create or replace."""
    quiet: bool = False
    customers: int | None = None
    """Results rows expected from `score` (None: not known)."""
    results: Path | None = None
    record: bool = True
    html: Path | None = None
    bundle: Path | None = None
    before: Snapshot = field(default_factory=dict)

    def start(self) -> None:
        self.before = snapshot(self.watched + [p for p in self.protected if p.exists()])


def check(outcome: Outcome, expect: Expectation, recipe: str) -> None:
    """Raise ContractBroken, with a reproduction, if the run broke the contract."""
    problem = _problem(outcome, expect)
    _trace(outcome)
    if problem is None:
        return
    kind, detail = problem
    raise broken(
        f"{expect.command}: {kind}",
        f"{detail}\ncommand: {outcome.command_line}\nexit: {outcome.code}\n"
        f"stderr: {outcome.stderr[-3000:]!r}\nstdout tail: {outcome.stdout[-800:]!r}\n"
        f"recipe: {recipe}",
    )


def _problem(outcome: Outcome, expect: Expectation) -> tuple[str, str] | None:
    after = snapshot(expect.watched + [p for p in expect.protected if p.exists()])
    text = outcome.stdout + outcome.stderr
    if outcome.code not in (0, 2):
        return _exit_kind(outcome), "exit code must be 0 or 2"
    if "Traceback" in text or "panicked at" in text:
        return "a traceback", "no traceback may be shown"
    changed = _changed(expect.before, after)
    touched = [path for path in changed if _is_under(path, expect.protected)]
    if touched:
        return "an input changed", f"changed: {touched[:5]}"
    left = [path for path in after if TEMPORARY.match(Path(path).name)]
    if left:
        return "a temporary file left", f"left: {left[:5]}"
    if outcome.code == 2:
        lines = outcome.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return "exit 2 without one 'error: ' line", "stderr must be one line 'error: ...'"
        if changed:
            return "a failed run changed files", f"changed: {changed[:5]}"
        return None
    if expect.quiet and outcome.stderr:
        return "--quiet printed on stderr", "nothing may go to stderr with --quiet on success"
    if expect.quiet and outcome.stdout:
        return "--quiet printed on stdout", "--quiet prints nothing but errors"
    stray = [path for path in changed if not _is_under(path, expect.outputs)]
    if stray:
        return "a stray file changed", f"changed beyond the outputs: {stray[:5]}"
    return _valid_outputs(expect)


def _exit_kind(outcome: Outcome) -> str:
    if isinstance(outcome.code, str):
        return outcome.code.split(":")[0]
    match = re.search(r"internal error: (\w+)", outcome.stderr)
    return f"exit {outcome.code}" + (f" ({match.group(1)})" if match else "")


def _changed(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )


def _is_under(path: str, roots: list[Path]) -> bool:
    return any(path == str(root) or path.startswith(f"{root}{os.sep}") for root in roots)


def _valid_outputs(expect: Expectation) -> tuple[str, str] | None:
    if expect.results is not None:
        results = expect.results.resolve()  # a symlink may be written through
        problem = _valid_results(results, expect.customers)
        records = [p.with_name(p.name + ".json") for p in (expect.results, results)]
        if problem is None and expect.record:
            problem = _valid_record(next((p for p in records if p.is_file()), records[0]), results)
        if problem is not None:
            return problem
    html = expect.html
    if html is not None and (not html.is_file() or b"</html>" not in html.read_bytes()):
        return "no HTML report after success", f"{html} is not a whole HTML file"
    if expect.bundle is not None:
        return _strict_json(expect.bundle / "bundle.json")
    return None


def _valid_results(path: Path, customers: int | None) -> tuple[str, str] | None:
    if not path.is_file():
        return "no results file after success", f"{path} is not a file"
    data = path.read_bytes()
    try:
        if data.startswith(b"PAR1"):
            results = pl.read_parquet(path)
        else:
            results = pl.read_csv(data, infer_schema=False)
    except Exception as error:
        return "results unreadable", f"{type(error).__name__}: {error}"
    missing = {"ChurnProbability", "RiskLevel"} - set(results.columns)
    if missing:
        return "results lack columns", f"missing {sorted(missing)}"
    if customers is not None and results.height != customers:
        return "results rows differ from customers", f"{results.height} rows for {customers}"
    try:
        probability = results.get_column("ChurnProbability").cast(pl.Float64).to_list()
    except Exception as error:
        return "ChurnProbability not a number", f"{type(error).__name__}: {error}"
    bad = [p for p in probability if p is None or not math.isfinite(p) or not 0.0 <= p <= 1.0]
    if bad:
        return "ChurnProbability not in [0, 1]", f"values: {bad[:5]}"
    levels = set(results.get_column("RiskLevel").cast(pl.String).to_list()) - RISK_LEVELS
    if levels:
        return "RiskLevel not HIGH/MEDIUM/LOW", f"values: {sorted(map(str, levels))[:5]}"
    return None


def _valid_record(record: Path, results: Path) -> tuple[str, str] | None:
    """Strict JSON that names the size of its results file (else `report` ignores it)."""
    problem = _strict_json(record)
    if problem is not None:
        return problem
    size = json.loads(record.read_text(encoding="utf-8")).get("results_bytes")
    if size != results.stat().st_size:
        return (
            "run record names another size",
            f"{size} bytes, the results {results.stat().st_size}",
        )
    return None


def _strict_json(path: Path) -> tuple[str, str] | None:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    try:
        json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)
    except FileNotFoundError:
        return "no JSON file after success", f"{path} is missing"
    except ValueError as error:
        return "JSON that is not strict", f"{path}: {error}"
    return None


# Example folders -------------------------------------------------------------------------------

_BASE = Path(os.environ.get("AURA_FUZZ_DIR") or tempfile.gettempdir()) / f"aura-fuzz-{os.getpid()}"
_kept: dict[str, Path] = {}


SURVEY = os.environ.get("AURA_FUZZ_SURVEY") == "1"
surveyed: dict[str, str] = {}
"""With AURA_FUZZ_SURVEY=1: the shortest report per kind of failure, instead of stopping at the
first (the test then fails at its end, naming every kind; nothing is shrunk)."""


@contextmanager
def example_folder(test: str) -> Iterator[Path]:
    """A fresh folder per example: removed when the contract held, kept (the latest per kind of
    failure, which after shrinking is the minimal one) when it broke."""
    _BASE.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{test}-", dir=_BASE))
    try:
        yield folder
    except ContractBroken as failure:
        kind, message = getattr(failure, "kind", ""), str(failure)
        _log(kind, message, folder)
        if SURVEY and kind in surveyed and len(message) >= len(surveyed[kind]):
            shutil.rmtree(folder, ignore_errors=True)
            return
        previous = _kept.get(kind)
        if previous is not None and previous != folder:
            shutil.rmtree(previous, ignore_errors=True)
        _kept[kind] = folder
        if SURVEY:
            surveyed[kind] = f"{message}\nfiles kept in: {folder}"
            return
        raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _trace(outcome: Outcome) -> None:
    """With AURA_FUZZ_TRACE set, every run's exit code and stderr are appended there."""
    trace = os.environ.get("AURA_FUZZ_TRACE")
    if trace:
        with open(trace, "a", encoding="utf-8") as handle:
            entry = {"code": outcome.code, "stderr": outcome.stderr[:500]}
            handle.write(json.dumps({**entry, "command": outcome.command_line}) + "\n")


def _log(kind: str, message: str, folder: Path) -> None:
    """With AURA_FUZZ_LOG set, every broken example is appended there (one JSON object a line)."""
    log = os.environ.get("AURA_FUZZ_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "folder": str(folder), "message": message}))
            handle.write("\n")

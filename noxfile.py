"""Developer sessions: `nox -s tests lint typecheck bench anchors fuzz`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

CONSTRAINTS = ("-c", "constraints.txt")
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
"""As the command line sets it: idle OpenMP threads sleep instead of spinning, which on a busy
machine slowed XGBoost tenfold and more (the benchmarks also train in-process)."""


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The test suite (benchmarks excluded)."""
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("mypy", "--strict", "src")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Speed and memory benchmarks; prints a table (not part of the test run)."""
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("python", "tests/bench/run_benchmarks.py", *session.posargs, env=PASSIVE)


@nox.session(python="3.11")
def anchors(session: nox.Session) -> None:
    """The Hillstrom e-mail experiment against scikit-uplift, CausalML, EconML (uplift ranking)
    and Open Bandit Pipeline (off-policy estimates); those libraries are installed here only,
    never as the project's dependencies."""
    anchors = ("scikit-uplift==0.5.1", "causalml==0.18.0", "econml==0.17.0")
    # Open Bandit Pipeline 0.5.7 declares Python < 3.11 and pins old torch and scipy releases
    # that do not build here; its estimators run on the current ones, so it is installed without
    # its pins, beside the libraries it imports.
    obp_imports = ("scikit-learn", "scipy", "pandas", "matplotlib", "seaborn", "tqdm", "pyyaml")
    session.install(*CONSTRAINTS, ".[dev]", *anchors, *obp_imports)
    session.install("--no-deps", "--ignore-requires-python", "obp==0.5.7")
    session.run("python", "tests/bench/anchors.py", *session.posargs, env=PASSIVE)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """The fuzz test's long, randomised profile (hostile tables through every command)."""
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("pytest", "tests/test_fuzz.py", *session.posargs, env={"AURA_FUZZ": "long"})

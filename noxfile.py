"""Developer sessions: `nox -s tests lint typecheck bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

CONSTRAINTS = ("-c", "constraints.txt")


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
    session.run("python", "tests/bench/run_benchmarks.py", *session.posargs)


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """The fuzz test's long, randomised profile (hostile tables through every command)."""
    session.install(*CONSTRAINTS, ".[dev]")
    session.run("pytest", "tests/test_fuzz.py", *session.posargs, env={"AURA_FUZZ": "long"})

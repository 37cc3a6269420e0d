"""Shared test helpers: the real Telco table (when present) and small generated tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

# As the command line does: OpenMP threads that wait sleep instead of spinning, so XGBoost on
# a busy machine does not slow down many times over (set before XGBoost is loaded).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from aura_sentinel.demo import generate_customers

REPO = Path(__file__).resolve().parents[1]
TELCO = REPO.parent / "shared" / "data" / "telco-customer-churn.csv"


@pytest.fixture
def telco_csv() -> Path:
    if not TELCO.is_file():
        pytest.skip(f"the real Telco table is not present at {TELCO}")
    return TELCO


@pytest.fixture(scope="session")
def customers() -> pl.DataFrame:
    """A small generated table in the Telco schema."""
    return generate_customers(600, seed=7)


@pytest.fixture
def customers_csv(tmp_path: Path, customers: pl.DataFrame) -> Path:
    path = tmp_path / "customers.csv"
    customers.write_csv(path)
    return path


def run_cli(
    *args: str, cwd: Path | None = None, columns: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m aura_sentinel ARGS` and capture its output (`columns` sets the width)."""
    env = None if columns is None else {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(
        [sys.executable, "-m", "aura_sentinel", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )

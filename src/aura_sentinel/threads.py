"""How many threads a command may use: the default, the allowed range, and torch's setting.

Results never depend on the number: XGBoost grows each model on one thread (models that do
not depend on each other run side by side), the DQN trains on one thread, and scoring splits
work into fixed blocks. The number only decides how much of the machine a run takes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from aura_sentinel.errors import UsageError

DEFAULT_CAP = 8
"""The default never exceeds this: beyond it the small models here gain little, and a shared
machine loses more."""
MAX_THREADS = 256


def default_threads() -> int:
    """The cores this process may run on (its affinity mask where there is one), at most 8."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, min(cores, DEFAULT_CAP))


def check_threads(threads: int) -> None:
    """Refuse a thread count below 1 or absurdly large."""
    if not 1 <= threads <= MAX_THREADS:
        raise UsageError(
            "--threads",
            f"{threads} is out of range",
            f"give 1 to {MAX_THREADS} (default: this machine's cores, at most {DEFAULT_CAP})",
        )


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op thread count set to `threads` for the block, restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)

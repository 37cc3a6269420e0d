"""aura-sentinel: turn a customer table into a retention plan.

`aura_sentinel.score(customers, models=None, ...)` scores a Polars or pandas DataFrame (see
`aura_sentinel.api`). It is imported on first use, so that importing the package (and
`aura-sentinel --help`) stays fast: no xgboost or torch until something is scored.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: this module runs before a Ctrl-C handler is in place
if TYPE_CHECKING:
    from typing import Any

    from aura_sentinel.api import score as score

__version__ = "0.1.0"
__all__ = ["__version__", "score"]


def __getattr__(name: str) -> Any:
    if name == "score":
        from aura_sentinel.api import score

        return score
    raise AttributeError(f"module 'aura_sentinel' has no attribute '{name}'")

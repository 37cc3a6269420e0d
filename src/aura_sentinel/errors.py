"""The one family of user-facing errors.

The CLI prints any `AuraError` as one line on stderr, `error: <where>: <problem> — <fix>`, and exits
with code 2. Any other exception is a bug: exit code 1.
"""

from __future__ import annotations


class AuraError(Exception):
    """A problem the user can fix: bad input, a bad option, a bundle that does not verify."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where = where
        self.problem = problem
        self.fix = fix
        super().__init__(f"{where}: {problem} — {fix}")


class DataError(AuraError):
    """The customer file cannot be read or does not hold what is needed."""


class UsageError(AuraError):
    """An option or argument is invalid."""


class BundleError(AuraError):
    """The model bundle is missing, damaged or does not fit the data."""

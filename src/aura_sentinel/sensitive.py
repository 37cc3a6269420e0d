"""Sensitive attributes: columns named like gender, sex, age, race, ethnicity, religion or marital
status, and how much the churn model leans on each, so that the analyst decides whether to keep
them (`--exclude NAME` leaves one out).

Names are matched by whole words, whatever their case or separators: `Gender`, `gender`,
`SeniorCitizen`, `Senior Citizen`, `marital_status` and `CustomerAge` match; `Agent` and
`Usage` do not.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aura_sentinel.features import FeatureSpec

# A name's words, run together, -> the attribute it names.
ATTRIBUTES = {
    "gender": "gender",
    "sex": "sex",
    "age": "age",
    "seniorcitizen": "age",
    "dateofbirth": "age",
    "birthdate": "age",
    "birthyear": "age",
    "yearofbirth": "age",
    "race": "race",
    "ethnicity": "ethnicity",
    "ethnic": "ethnicity",
    "religion": "religion",
    "maritalstatus": "marital status",
    "marital": "marital status",
    "married": "marital status",
}
# Words of a name: runs of capitals before a capitalised word (`ID` in `IDNumber`), capitalised or
# lower-case words, other runs of capitals, digits; everything else separates.
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@dataclass(frozen=True)
class SensitiveColumn:
    """A column that looks like a sensitive attribute, and its weight in the churn model."""

    column: str
    attribute: str
    used: bool
    """Whether it is a feature of the churn model."""
    contribution_share: float
    """Share of the model's total mean |contribution| (0 when not used)."""
    rank: int | None
    """1 = the model's strongest driver; None when not used."""

    def to_json(self) -> dict[str, object]:
        return {
            "column": self.column,
            "attribute": self.attribute,
            "used": self.used,
            "contribution_share": self.contribution_share,
            "rank": self.rank,
        }

    def sentence(self, features: int) -> str:
        """One line of plain text for the analyst; `features` is the model's feature count."""
        if not self.used or self.rank is None:
            return f"{self.column} ({self.attribute}) is not used by the churn model"
        return (
            f"{self.column} ({self.attribute}) is used: {ordinal(self.rank)} of {features} "
            f"drivers, {self.contribution_share:.1%} of the model's weight; "
            f"leave it out with --exclude {shlex.quote(self.column)}"
        )


def sensitive_attribute(name: str) -> str | None:
    """The sensitive attribute a column name names, or None."""
    words = [word.lower() for word in _WORDS.findall(name)]
    for start in range(len(words)):
        for end in range(start + 1, len(words) + 1):
            attribute = ATTRIBUTES.get("".join(words[start:end]))
            if attribute is not None:
                return attribute
    return None


def sensitive_columns(
    columns: Sequence[str], spec: FeatureSpec, shares: npt.NDArray[np.float64]
) -> list[SensitiveColumn]:
    """The sensitive-looking `columns` (in their order), each with its share of the model's weight
    and its rank among the features (`shares`: each feature's share, in the spec's order)."""
    order = np.argsort(-shares, kind="stable")
    ranks = {spec.columns[index].name: rank for rank, index in enumerate(order.tolist(), 1)}
    found = []
    for name in columns:
        attribute = sensitive_attribute(name)
        if attribute is None:
            continue
        if name in ranks:
            share = float(shares[spec.names.index(name)])
            found.append(SensitiveColumn(name, attribute, True, share, ranks[name]))
        else:
            found.append(SensitiveColumn(name, attribute, False, 0.0, None))
    return found


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"

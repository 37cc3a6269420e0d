"""Money units: what a bundle's costs, values and gains are counted in.

Every amount is a multiple of the customer's monthly charge. With a monthly charge column the
amounts are in the table's money, labelled by the currency the user gave at training (if any);
without one the charge is 1 and every amount is in months of charge.
"""

from __future__ import annotations

import unicodedata

MONTHS_OF_CHARGE = "months of charge"
MAX_CURRENCY_CHARS = 12


def currency_problem(label: str) -> str | None:
    """What is wrong with a currency label (None: nothing): short printable text only."""
    if not label.strip():
        return "is blank"
    if len(label) > MAX_CURRENCY_CHARS:
        return f"has {len(label)} characters, allowed at most {MAX_CURRENCY_CHARS}"
    if any(unicodedata.category(character).startswith("C") for character in label):
        return "holds a control character"
    return None


def money_unit(charges_defaulted: bool, currency: str | None) -> str:
    """The unit of every amount: months of charge without charges, else the currency (or "")."""
    if charges_defaulted:
        return MONTHS_OF_CHARGE
    return currency or ""


def with_unit(header: str, unit: str) -> str:
    """A money header with its unit: `Spend (EUR)`; the header alone when the unit is unknown."""
    return f"{header} ({unit})" if unit else header

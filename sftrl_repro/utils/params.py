"""Validation of user-facing parameters (notebook parameters, env kwargs, configs).

Every error a user can cause ends in one ``ValueError`` whose message names the parameter, the bad
value and what is valid, raised before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_choice(name: str, value: Any, valid: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``valid``; else raise ``ValueError`` naming the valid values.

    >>> check_choice("rule", "id", ("id", "ood"))
    'id'
    """
    valid = tuple(valid)
    if value not in valid:
        options = ", ".join(repr(v) for v in valid)
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {options}")
    return value


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` if it is an int (not a bool) within ``[low, high]``; else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}={value!r} is not valid; it must be an integer")
    if low is not None and value < low:
        raise ValueError(f"{name}={value!r} is not valid; it must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name}={value!r} is not valid; it must be <= {high}")
    return value

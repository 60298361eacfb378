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


def parse_overrides(items: Iterable[str], cls: type) -> dict[str, Any]:
    """``["key=value", ...]`` -> ``{key: value}`` for fields of the dataclass ``cls``.

    Values are read as JSON (``3``, ``1e-5``, ``true``, ``[1, 2]``, ``{"lr": 1e-5}``), anything else
    as a string. An unknown key raises one ``ValueError`` naming the valid fields.
    """
    import json
    from dataclasses import fields

    names = sorted(f.name for f in fields(cls))
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in names:
            raise ValueError(f"{item!r} is not valid; use KEY=VALUE with KEY one of {names}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out

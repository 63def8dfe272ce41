"""Whole-number settings read from the environment, refused with a message that names the variable."""

from __future__ import annotations

import os


def whole_number(variable: str, default: int, *, unit: str, maximum: int | None = None) -> int:
    """`variable` as a whole number from 1 (to `maximum`), or `default` when it is unset or blank."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1 or (maximum is not None and value > maximum):
        rule = f"a positive number of {unit}" if maximum is None else f"a whole number from 1 to {maximum}"
        raise ValueError(f"{variable} must be {rule}, got {raw!r}")
    return value

"""Settings read from the environment, refused with a message that names the variable."""

from __future__ import annotations

import os
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Settings = TypeVar("Settings", bound=BaseModel)


def from_environment(model: type[Settings], variables: dict[str, str], what: str) -> Settings:
    """`model` with each field whose variable (`variables`: field -> name) is set taken from the
    environment; `ValueError` naming the variables if they are invalid."""
    given = {field: os.environ[name] for field, name in variables.items() if os.environ.get(name)}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        names = ", ".join(f"{variables[field]}={value}" for field, value in given.items())
        raise ValueError(f"Invalid {what} settings in the environment ({names}): {exc}") from None


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

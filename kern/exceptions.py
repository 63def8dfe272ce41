"""Agno's guardrail exceptions (`agno.exceptions`): a pre-hook raises `InputCheckError` to refuse a run's
input, a post-hook `OutputCheckError` to refuse its output; the run ends with `RunError`."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class CheckTrigger(StrEnum):
    """Why a check refused the input or output (Agno's values)."""

    OFF_TOPIC = "off_topic"
    INPUT_NOT_ALLOWED = "input_not_allowed"
    OUTPUT_NOT_ALLOWED = "output_not_allowed"
    VALIDATION_FAILED = "validation_failed"
    PROMPT_INJECTION = "prompt_injection"
    PII_DETECTED = "pii_detected"


class SessionBusyError(RuntimeError):
    """kern's: a run refused because its session has one in flight (`busy_session="reject"`, or an
    `enqueue` wait that ran out). `run_ids` are the runs in the way."""

    def __init__(self, message: str, run_ids: list[str]) -> None:
        super().__init__(message)
        self.run_ids = run_ids


class CheckError(Exception):
    """A hook refused the run: the run ends with `RunError` whose `error_type` is `error_type`."""

    error_type = "check_error"
    default_trigger = CheckTrigger.VALIDATION_FAILED

    def __init__(
        self,
        message: str,
        check_trigger: CheckTrigger | None = None,
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.check_trigger = check_trigger or self.default_trigger
        self.additional_data = additional_data


class InputCheckError(CheckError):
    """A pre-hook refused the run's input."""

    error_type = "input_check_error"
    default_trigger = CheckTrigger.INPUT_NOT_ALLOWED


class OutputCheckError(CheckError):
    """A post-hook refused the run's output."""

    error_type = "output_check_error"
    default_trigger = CheckTrigger.OUTPUT_NOT_ALLOWED


class TooManyRunsError(RuntimeError):
    """kern's: a run refused because the component (or its node) has as many runs in flight and waiting
    as its `Admission` allows. Nothing of it ran; try again after `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.retry_after))

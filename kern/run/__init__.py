"""Run events and outputs (pydantic models), and `RunContext`, what a tool sees of its run."""

from kern.run.context import RunContext

__all__ = ["RunContext"]

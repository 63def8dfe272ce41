"""Tools: plain Python functions the model can call."""

from kern.tools.function import Function, tool

__all__ = ["Function", "tool"]

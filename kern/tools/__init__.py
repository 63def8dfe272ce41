"""Tools: plain Python functions the model can call."""

from kern.tools.function import Function, tool
from kern.tools.toolkit import Toolkit

__all__ = ["Function", "Toolkit", "tool"]

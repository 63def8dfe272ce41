"""`Toolkit`: a named group of tools (usually the methods of one object), as in Agno."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kern.agno_options import not_supported
from kern.tools.function import Function


class Toolkit:
    """Tools under one name, with optional instructions for the model. Subclass it and pass your methods
    (`super().__init__(name="shop", tools=[self.price, self.stock])`), or build one from functions.

    `include_tools` / `exclude_tools` pick among them by name; `instructions` go into the system message
    when `add_instructions` is set. The toolkit travels to the actors with the agent, so its state must
    pickle, and each run works on its own copy.
    """

    def __init__(
        self,
        name: str = "toolkit",
        tools: Sequence[Callable[..., Any] | Function] | None = None,
        instructions: str | None = None,
        add_instructions: bool = False,
        include_tools: list[str] | None = None,
        exclude_tools: list[str] | None = None,
        **agno_options: Any,
    ) -> None:
        if agno_options:
            option = next(iter(agno_options))
            raise not_supported(f"Toolkit({option}=...)")
        self.name = name
        self.instructions = instructions
        self.add_instructions = add_instructions
        functions = [t if isinstance(t, Function) else Function.from_callable(t) for t in tools or []]
        names = [function.name for function in functions]
        unknown = sorted(set(include_tools or []) | set(exclude_tools or []) - set(names))
        if unknown:
            raise ValueError(f"Toolkit {name!r} has no tools named {unknown}; it has {names}")
        self.functions = [
            function
            for function in functions
            if (include_tools is None or function.name in include_tools)
            and function.name not in (exclude_tools or [])
        ]

"""Turn a Python function (sync or async) into a tool: a JSON schema from its type hints and docstring."""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, create_model

from kern.agno_options import not_supported
from kern.run.base import UserInputField
from kern.run.context import RunContext
from kern.tools.cache import cache_file, cached, keep
from kern.tools.threads import tool_threads


class ToolArgumentsError(ValueError):
    """The model's arguments did not fit the tool's schema."""


class Function(BaseModel):
    """A callable the model can use, with the schema the model sees."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    description: str = ""
    parameters: dict[str, Any]
    entrypoint: Callable[..., Any]
    stop_after_call: bool = False
    """End the run after this tool returns, with its result as the answer (Agno's `stop_after_tool_call`)."""
    instructions: str | None = None
    """How to use the tool; added to the system message (after the additional information) when
    `add_instructions`, as Agno does."""
    add_instructions: bool = True
    strict: bool = False
    """Ask the model for arguments that fit the schema exactly (`definition`)."""
    show_result: bool = False
    """The result is also part of the run's answer, streamed as content (Agno's `show_result`)."""
    cache_results: bool = False
    """Keep results on disk for `cache_ttl` seconds, by caller and arguments (`kern.tools.cache`)."""
    cache_dir: str | None = None
    cache_ttl: float = 3600
    injected: dict[str, str] = Field(default_factory=dict)
    """Parameters kern fills in rather than the model, by what they get (`_injected`)."""
    requires_confirmation: bool = False
    """The run pauses before each call until a person confirms or rejects it (`continue_run`)."""
    requires_user_input: bool = False
    """The run pauses before each call until a person gives the values the model did not (Agno's
    `user_input_schema`); the `user_input_fields` are kept out of the schema the model sees."""
    user_input_fields: list[str] = Field(default_factory=list)
    external_execution: bool = False
    """The run pauses at each call; the caller runs the tool and gives its result (`continue_run`)."""
    _arguments_model: type[BaseModel] | None = PrivateAttr(default=None)

    @classmethod
    def from_callable(cls, fn: Callable[..., Any], *, name: str | None = None) -> Function:
        """Build a tool from `fn`: parameters from its type hints, descriptions from its docstring."""
        arguments_model = _arguments_model(fn)
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        schema = arguments_model.model_json_schema()
        schema.pop("title", None)
        for prop_name, prop in schema.get("properties", {}).items():
            prop.pop("title", None)
            if prop_name in arg_docs:
                prop.setdefault("description", arg_docs[prop_name])
        function = cls(
            name=name or fn.__name__,
            description=summary,
            parameters=schema,
            entrypoint=fn,
            injected=_injected(fn),
        )
        function._arguments_model = arguments_model
        return function

    @property
    def pauses(self) -> bool:
        """Whether a call of this tool waits for a person."""
        return self.requires_confirmation or self.requires_user_input or self.external_execution

    def user_input_schema(self, arguments: dict[str, Any]) -> list[UserInputField]:
        """The values a person gives a `requires_user_input` call: every parameter the model may not fill
        in, the model's `arguments` as the values it has."""
        model = self._arguments_model or _arguments_model(self.entrypoint)
        properties = model.model_json_schema().get("properties", {})
        return [
            UserInputField(
                name=name,
                field_type=_type_name(field.annotation),
                description=properties.get(name, {}).get("description"),
                value=arguments.get(name),
            )
            for name, field in model.model_fields.items()
        ]

    def hide_user_input_fields(self) -> None:
        """Keep the `user_input_fields` out of the schema the model sees; refuse names it does not have."""
        properties = self.parameters.get("properties", {})
        unknown = [name for name in self.user_input_fields if name not in properties]
        if unknown:
            raise ValueError(f"user_input_fields {unknown} are not parameters of the tool {self.name!r}")
        hidden = set(self.user_input_fields)
        self.parameters = {
            **self.parameters,
            "properties": {name: value for name, value in properties.items() if name not in hidden},
            "required": [name for name in self.parameters.get("required", []) if name not in hidden],
        }

    def definition(self) -> dict[str, Any]:
        """The provider-neutral tool definition models receive; a strict one has every parameter
        required and no others allowed (OpenAI's strict function calling, as Agno asks for it)."""
        if not self.strict:
            return {"name": self.name, "description": self.description, "parameters": self.parameters}
        properties = {
            name: {key: value for key, value in schema.items() if key != "default"}  # (strict mode has none)
            for name, schema in self.parameters.get("properties", {}).items()
        }
        parameters = {**self.parameters, "properties": properties, "required": list(properties)}
        parameters["additionalProperties"] = False
        return {"name": self.name, "description": self.description, "parameters": parameters, "strict": True}

    def parse_arguments(self, arguments: str) -> dict[str, Any]:
        """Validate the model's JSON arguments; raise `ToolArgumentsError` naming the problem."""
        try:
            raw = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ToolArgumentsError(f"Arguments for {self.name} are not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise ToolArgumentsError(f"Arguments for {self.name} must be a JSON object, got {raw!r}")
        model = self._arguments_model or _arguments_model(self.entrypoint)
        try:
            validated = model.model_validate(raw)
        except ValidationError as exc:
            raise ToolArgumentsError(f"Invalid arguments for {self.name}: {exc}") from exc
        return {field: getattr(validated, field) for field in type(validated).model_fields}

    async def call(
        self,
        arguments: dict[str, Any],
        context: RunContext | None = None,
        hooks: Sequence[Callable[..., Any]] = (),
        component: object = None,
    ) -> str:
        """Run the tool, given `context` as its `run_context` and `component` (the agent's or team's spec)
        as its `agent` / `team` if it asks for them, through `hooks` (Agno's
        `tool_hooks`: each is called as `hook(function_name=, function_call=, arguments=)` and returns the
        result; `_run`). Async tools are awaited (and cancelled with the run); sync tools run on
        one of the process's tool threads (`kern.tools.threads`), which a cancelled run leaves to finish."""
        if self.injected:
            given = {"run_context": context, "agent": component, "team": component}
            arguments = {**arguments, **{name: given[role] for name, role in self.injected.items()}}
        path = cache_file(self.cache_dir, self.name, arguments) if self.cache_results else None
        if path is not None and (kept := cached(path, self.cache_ttl)) is not None:
            return kept
        result = await self._run(arguments, hooks)
        if path is not None:
            keep(path, result)
        return result

    async def _run(self, arguments: dict[str, Any], hooks: Sequence[Callable[..., Any]]) -> str:
        """A sync tool with sync hooks runs, hooks and all, on a tool thread (a hook's `function_call`
        returns the result). An async tool, or any async hook, makes the chain async, as in Agno's
        `arun`: `function_call` returns an awaitable, which an async hook awaits and a sync hook may
        return as it is; a sync tool inside it still runs on a tool thread."""
        if not any(map(inspect.iscoroutinefunction, [self.entrypoint, *hooks])):
            call: Callable[..., Any] = self.entrypoint
            for hook in reversed(hooks):
                call = functools.partial(_through_hook, hook, self.name, call)
            result = await tool_threads().run(self.name, functools.partial(call, **arguments))
        else:
            acall: Callable[..., Awaitable[Any]] = self._entrypoint_awaited
            for hook in reversed(hooks):
                acall = functools.partial(_through_async_hook, hook, self.name, acall)
            result = await acall(**arguments)
        return result if isinstance(result, str) else json.dumps(result, default=str)

    async def _entrypoint_awaited(self, **arguments: Any) -> Any:
        if inspect.iscoroutinefunction(self.entrypoint):
            return await self.entrypoint(**arguments)
        return await tool_threads().run(self.name, functools.partial(self.entrypoint, **arguments))

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_arguments_model": None}
        return state


AGNO_TOOL_OPTIONS = frozenset({
    "title", "annotations", "external_execution_silent", "pre_hook", "post_hook", "tool_hooks",
})  # fmt: skip
"""Options of Agno 3.1.10's `@tool` that kern does not support yet: refused by name."""


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    stop_after_tool_call: bool = False,
    instructions: str | None = None,
    add_instructions: bool = True,
    show_result: bool = False,
    cache_results: bool = False,
    cache_dir: str | None = None,
    cache_ttl: float = 3600,
    strict: bool = False,
    requires_confirmation: bool = False,
    requires_user_input: bool = False,
    user_input_fields: list[str] | None = None,
    external_execution: bool = False,
    **agno_options: Any,
) -> Any:
    """Agno's `@tool` decorator, bare or with options: `name`, `description` (else the docstring's
    summary), `stop_after_tool_call`, `instructions` / `add_instructions`, `show_result`, `cache_results`
    (`cache_dir`, `cache_ttl`), `strict`, and the human-in-the-loop ones: `requires_confirmation`,
    `requires_user_input` (`user_input_fields`), `external_execution` (at most one of them)."""
    chosen = [requires_confirmation, requires_user_input, external_execution]
    if sum(chosen) > 1:
        raise ValueError(
            "Only one of requires_confirmation, requires_user_input and external_execution may be set"
        )
    if agno_options:
        option = next(iter(agno_options))
        if option in AGNO_TOOL_OPTIONS:
            raise not_supported(f"@tool({option}=...)")
        raise ValueError(f"Invalid tool configuration argument: {option!r}")

    def wrap(target: Callable[..., Any]) -> Function:
        function = Function.from_callable(target, name=name)
        function.description = description if description is not None else function.description
        function.stop_after_call = stop_after_tool_call
        function.instructions = instructions
        function.add_instructions = add_instructions
        function.show_result = show_result
        function.strict = strict
        function.cache_results, function.cache_dir, function.cache_ttl = cache_results, cache_dir, cache_ttl
        function.requires_confirmation = requires_confirmation
        function.requires_user_input = requires_user_input
        function.user_input_fields = list(user_input_fields or [])
        function.external_execution = external_execution
        if requires_user_input:
            function.hide_user_input_fields()
        return function

    return wrap(fn) if fn is not None else wrap


def _through_hook(hook: Callable[..., Any], name: str, call: Callable[..., Any], **arguments: Any) -> Any:
    """One tool hook around `call`, given what Agno gives it (those of its parameters it names)."""
    offered = {"function_name": name, "function_call": call, "arguments": arguments}
    parameters = inspect.signature(hook).parameters
    return hook(**{key: value for key, value in offered.items() if key in parameters})


async def _through_async_hook(
    hook: Callable[..., Any], name: str, call: Callable[..., Awaitable[Any]], **arguments: Any
) -> Any:
    """One hook (sync or async) around the awaitable `call`: what it returns, awaited if need be."""
    result = _through_hook(hook, name, call, **arguments)
    return await result if inspect.isawaitable(result) else result


def _injected(fn: Callable[..., Any]) -> dict[str, str]:
    """The parameters kern fills in, by what they get (as Agno does): `run_context` (so named, or typed
    `RunContext`), and `agent` / `team` (the agent's or team's spec: the object lives in the driver)."""
    hints = get_type_hints(fn)
    injected: dict[str, str] = {}
    for name in inspect.signature(fn).parameters:
        if name == "run_context" or hints.get(name) is RunContext:
            injected[name] = "run_context"
        elif name in ("agent", "team"):
            injected[name] = name
    return injected


_ARGUMENT_MODELS: dict[tuple[Any, inspect.Signature], type[BaseModel]] = {}
"""Arguments models by code and signature: a tool made anew for each run (a team's delegation tool is a
closure over its run) would otherwise build a pydantic model at every call (0.3 ms each)."""
ARGUMENT_MODELS_KEPT = 1024


def _arguments_model(fn: Callable[..., Any]) -> type[BaseModel]:
    """The arguments the model gives (not those kern fills in); one model per code and signature."""
    try:
        key = (fn.__code__, inspect.signature(fn))
        model = _ARGUMENT_MODELS.get(key)
    except (AttributeError, TypeError, ValueError):  # no code (a builtin, a callable object), or unhashable
        return _build_arguments_model(fn)
    if model is None:
        if len(_ARGUMENT_MODELS) >= ARGUMENT_MODELS_KEPT:
            _ARGUMENT_MODELS.clear()
        model = _ARGUMENT_MODELS[key] = _build_arguments_model(fn)
    return model


def _build_arguments_model(fn: Callable[..., Any]) -> type[BaseModel]:
    hints = get_type_hints(fn)
    injected = _injected(fn)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) or param.name in injected:
            continue
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    return create_model(f"{fn.__name__}_arguments", **fields)


def _type_name(annotation: Any) -> str:
    """A parameter's type as Agno's `UserInputField.field_type` names it (`str`, `int`...)."""
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary paragraph and the `Args:` descriptions of a Google-style docstring."""
    summary = doc.split("\n\n", 1)[0].strip()
    arg_docs: dict[str, str] = {}
    match = re.search(r"^Args:\s*\n((?:[ \t]+.*\n?)+)", doc, re.MULTILINE)
    if match:
        for line in match.group(1).splitlines():
            found = re.match(r"\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)", line)
            if found:
                arg_docs[found.group(1)] = found.group(2).strip()
    return summary, arg_docs

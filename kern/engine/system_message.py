"""An agent's system message, built as Agno 3.1.10 builds it (agno.agent._messages.get_system_message).

`system_message` replaces it whole. Otherwise, in order: the description, the role, the instructions
(one as is, several as a list), the additional information (markdown, the current time, the name), the
expected output, the additional context. Built where the run executes, so the time is the run's.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kern.engine.run_context import resolve
from kern.engine.structured import json_mode_prompt
from kern.run.context import RunContext

if TYPE_CHECKING:
    from kern.specs import ComponentSpec


def render_instructions(instructions: list[str]) -> str:
    """One instruction as is; several as `- ` items, multi-line ones kept as blocks between them."""
    if len(instructions) == 1:
        return instructions[0]
    if not any("\n" in each.strip() for each in instructions):
        return "\n".join(f"- {each.strip()}" for each in instructions)
    return "\n\n".join(each if "\n" in each.strip() else f"- {each.strip()}" for each in instructions)


def agent_system_message(spec: ComponentSpec, context: RunContext | None = None) -> str:
    """The system message of an agent (or of a team's leader, before its members are listed) for a run
    (its `{name}` placeholders resolved, its session state shown, when the spec asks)."""
    if spec.system_message is not None:
        return resolve(spec.system_message, context) if spec.resolve_in_context else spec.system_message
    instructions = instruction_list(spec, context)
    text = ""
    if spec.description is not None:
        text += f"{spec.description}\n"
    if spec.role is not None:
        text += f"\n<your_role>\n{spec.role}\n</your_role>\n\n"
    if instructions:
        rendered = render_instructions(instructions)
        tagged = f"<instructions>\n{rendered}\n</instructions>"
        text += f"{tagged if spec.use_instruction_tags else rendered}\n\n"
    text += additional_information(spec, markdown=spec.markdown)
    for each in spec.tool_instructions:
        text += f"{each}\n"
    if spec.resolve_in_context:  # (what follows is not resolved, as in Agno)
        text = resolve(text, context)
    if spec.expected_output is not None:
        text += f"<expected_output>\n{spec.expected_output.strip()}\n</expected_output>\n\n"
    if spec.additional_context is not None:
        text += f"{spec.additional_context}\n"
    if spec.output_schema is not None and spec.use_json_mode:
        text += json_mode_prompt(spec.output_schema)
    if spec.add_session_state_to_context and context is not None:
        text += f"\n<session_state>\n{context.session_state}\n</session_state>\n\n"
    return text


def additional_information(spec: ComponentSpec, *, markdown: bool) -> str:
    """The `<additional_information>` block: markdown, the current time, the name, as each is asked."""
    additional: list[str] = []
    if markdown:
        additional.append("Use markdown to format your answers.")
    if spec.add_datetime_to_context:
        additional.append(f"The current time is {now(spec)}.")
    if spec.add_name_to_context:
        additional.append(f"Your name is: {spec.name}.")
    if not additional:
        return ""
    return (
        "<additional_information>"
        + "".join(f"\n- {each}" for each in additional)
        + "\n</additional_information>\n\n"
    )


def instruction_list(spec: ComponentSpec, context: RunContext | None) -> list[str]:
    """The instructions as a list of texts (a callable's called), the empty ones left out."""
    given = _called(spec, context) if callable(spec.instructions) else spec.instructions
    return [each for each in (given if isinstance(given, list) else [given or ""]) if each]


def _called(spec: ComponentSpec, context: RunContext | None) -> str | list[str]:
    """Callable instructions' text, the callable given the arguments it names (as Agno calls it)."""
    assert callable(spec.instructions)
    available = {"agent": spec, "team": spec, "run_context": context}
    named = inspect.signature(spec.instructions).parameters
    return spec.instructions(**{key: value for key, value in available.items() if key in named})


def now(spec: ComponentSpec) -> str:
    """The current time as the spec asks for it (time zone, format), where the run runs."""
    zone = None
    if spec.timezone_identifier:
        try:
            zone = ZoneInfo(spec.timezone_identifier)
        except (ZoneInfoNotFoundError, ValueError):
            zone = None  # (Agno logs a warning and uses local time)
    moment = datetime.now(zone)
    return moment.strftime(spec.datetime_format) if spec.datetime_format else str(moment)

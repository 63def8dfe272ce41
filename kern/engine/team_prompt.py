"""What a team's leader and its members are told, worded as Agno 3.1.10 words it.

The leader's system message (agno.team._messages.get_system_message): `system_message` replaces it
whole; otherwise the description, role and instructions, then the `<team>` block (what the leader is
for, the `<team_members>` roster, how to delegate in the team's mode), then the additional information,
the tools' instructions, the expected output, the additional context, the session state and the JSON
mode's fields; `{name}` placeholders resolved over all of it. A member's input (agno.utils.team): the
interactions of earlier members in this run, then the team's history, then the task.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from kern.engine.run_context import resolve
from kern.engine.structured import json_mode_prompt
from kern.engine.system_message import additional_information, instruction_list, render_instructions
from kern.run.agent import RunOutput
from kern.run.context import RunContext
from kern.specs import TeamSpec

OPENING = (
    "You coordinate this team to fulfill the user's request. "
    "You have a team of specialists, listed below. "
    "Delegate to members when their expertise or tools are needed; "
    "answer directly — including with your own tools — when they are not.\n"
)
EVIDENCE = (
    "- A member's output is evidence, not your answer. When a member fails, refuses, or returns nothing, "
    "say so plainly and name what it reported — never supply a cause, source, or finding the member did "
    "not state.\n"
)
MEMBERS_SEE_INPUT = (
    "\nMembers do not see this conversation, and each one receives the user's message verbatim rather than "
    "the text you write. Pass a short label; do not restate or rewrite the request.\n"
)
MEMBERS_SEE_SHARED = (
    "\nMembers see only what you pass them plus the shared context this team forwards — not the "
    "conversation itself. Carry over every name, number and earlier answer the task depends on, and say "
    "what a good result looks like.\n"
)
MEMBERS_SEE_TASK = (
    "\nMembers do not see this conversation. Each one gets only the text you write for it, so carry over "
    "every name, number and earlier answer it needs, and say what a good result looks like.\n"
)
IDS = "Member ids are the ids shown in the roster above, used exactly as written.\n"
IDS_WITH_SUB_TEAMS = (
    "Member ids are the ids shown in the roster above, used exactly as written — never joined or prefixed. "
    "Delegate to a sub-team by the sub-team's own id; its leader hands work to the members inside it.\n"
)


def team_system_message(team: TeamSpec, context: RunContext | None = None) -> str:
    """The leader's system message for a run."""
    if team.system_message is not None:
        return resolve(team.system_message, context) if team.resolve_in_context else team.system_message
    text = _identity(team, context) + _team_block(team) + _trailing(team, context)
    if team.resolve_in_context:
        text = resolve(text, context)
    return text.strip()


def roster(team: TeamSpec, indent: int = 0) -> str:
    """The `<member>` records of the team's members; a sub-team's own members nested in it, without ids
    (they are not this leader's to delegate to)."""
    pad = " " * indent
    text = ""
    for member in team.members:
        ident = f' id="{member.id}"' if indent == 0 else ""
        kind = ' type="team"' if isinstance(member, TeamSpec) else ""
        text += f'{pad}<member{ident} name="{member.name}"{kind}>\n'
        if member.role is not None:
            text += f"{pad}  Role: {member.role}\n"
        if member.description is not None:
            text += f"{pad}  Description: {member.description}\n"
        if isinstance(member, TeamSpec):
            text += roster(member, indent + 2)
        elif team.add_member_tools_to_context and member.tools:
            text += f"{pad}  Tools: {', '.join(tool.name for tool in member.tools)}\n"
        text += f"{pad}</member>\n"
    return text


def _identity(team: TeamSpec, context: RunContext | None) -> str:
    text = ""
    if team.description is not None:
        text += f"<description>\n{team.description}\n</description>\n\n"
    if team.role is not None:
        text += f"<your_role>\n{team.role}\n</your_role>\n\n"
    instructions = instruction_list(team, context)
    if instructions:
        rendered = render_instructions(instructions)
        text += (
            f"<instructions>\n{rendered}\n</instructions>\n\n"
            if team.use_instruction_tags
            else f"{rendered}\n\n"
        )
    return text


def _team_block(team: TeamSpec) -> str:
    text = f"<team>\n{OPENING}\n<team_members>\n{roster(team)}</team_members>\n"
    if team.get_member_information_tool and team.mode != "tasks":
        text += "Call `get_member_information` at any time to re-read this list.\n"
    return text + _delegation(team) + "</team>\n\n"


def _delegation(team: TeamSpec) -> str:
    """How to delegate in the team's mode (Agno's `<delegation>` block)."""
    selector = "role, description, and tools" if team.add_member_tools_to_context else "role and description"
    text = "\n<delegation>\n"
    if team.mode == "tasks":
        text += (
            "You work from a shared task list: you create tasks, assign each one to a member, execute them, "
            "and deliver the result.\n\n"
            f"- `create_task` sets the assignee — the member whose {selector} fit the work best. "
            "`execute_tasks_parallel` runs each task against the member it was created with, so a task "
            "created without an assignee cannot go in a batch. Titles are unique: creating a task under an "
            "existing title returns that task instead of a new one.\n"
            "- Set `depends_on` only when a task genuinely needs another task's output.\n"
            "- Run one task with `execute_task`, or a batch of independent ones with "
            "`execute_tasks_parallel`. `list_tasks` re-reads the board at any point.\n"
            "- Read every result. On a failure, retry, reassign, or change the plan — do not repeat the same "
            "call unchanged. Record work you did yourself with `update_task_status`, and anything a later "
            "task will need with `add_task_note`.\n"
            "- A task result is evidence, not your answer. When a task fails or a member returns nothing, "
            "say so plainly and name what it reported — never supply a cause or a finding the member did not "
            "state.\n"
            "- `mark_all_complete` ends the loop; the summary you pass it is bookkeeping, not the reply. "
            "Write the answer as your own message in the same turn — that message is what reaches the user. "
            "A list whose tasks have all completed also ends the loop. For a request that needs no tasks at "
            "all — a greeting, a question you can simply answer — write the answer and call "
            "`mark_all_complete` in the same turn: that finishes at once instead of after a reminder. Call "
            "it too when the goal is out of reach: a partial outcome stated plainly beats looping.\n"
        )
    elif team.mode == "route":
        text += (
            "You work in route mode: you hand the request to exactly one member with "
            "`delegate_task_to_member`, and its reply is returned to the user as written and ends the "
            "run.\n\n"
            f"- Pick the member whose {selector} are the closest match; if none is a clear fit, pick the "
            "closest and carry the shortfall into the task.\n"
            "- Pass the request whole. Do not reinterpret, narrow, or summarize what the user asked.\n"
            "- State any requirement on the reply — format, length, structure, tone — in the task itself. "
            "Your own formatting rules and expected output are not applied to what the member returns.\n"
            "- Write no text of your own in the turn you hand over: anything you write is prepended to the "
            "member's reply, and you get no turn to review or correct what it sends.\n"
        )
    elif team.mode == "broadcast":
        text += (
            "You work in broadcast mode: one call puts the same task to every member, then you write the "
            "answer yourself.\n\n"
            "- Call `delegate_task_to_members` exactly once. One call reaches every member; do not call it "
            "once per member.\n"
            "- Write one whole question each member can answer from its own vantage point, not a sub-task "
            "for one of them.\n"
            f"{EVIDENCE}"
            "- Say each finding once: where members agree that is one finding, not three; where they "
            "conflict, reconcile it and say which view you took. Integrate the strongest contributions "
            "thematically — never list the responses in sequence.\n"
        )
    else:
        text += (
            "You work in coordinate mode: you hand sub-tasks to members with `delegate_task_to_member` and "
            "write the answer yourself.\n\n"
            f"- Match each sub-task to the member whose {selector} fit it best. When sub-tasks do not "
            "depend on each other, delegate them in the same turn instead of one per turn.\n"
            f"{EVIDENCE}"
            "- If a response is off-target, re-delegate with clearer instructions or try a better-suited "
            "member. If it still misses, answer with what you have and say what is missing — do not work "
            "through the roster.\n"
            "- Write one answer. Resolve contradictions, add structure, and fill gaps only where you can "
            "state the basis for it. Never concatenate member outputs.\n"
        )
    if not team.determine_input_for_members and team.mode != "tasks":  # (a task's text is the leader's)
        text += MEMBERS_SEE_INPUT
    elif team.add_team_history_to_members or team.share_member_interactions:
        text += MEMBERS_SEE_SHARED
    else:
        text += MEMBERS_SEE_TASK
    if team.mode != "broadcast":
        text += IDS_WITH_SUB_TEAMS if any(isinstance(m, TeamSpec) for m in team.members) else IDS
    return text + "</delegation>\n"


def _trailing(team: TeamSpec, context: RunContext | None) -> str:
    text = additional_information(team, markdown=team.markdown and team.output_schema is None)
    for each in team.tool_instructions:
        text += f"{each}\n"
    if team.expected_output is not None:
        text += f"<expected_output>\n{team.expected_output.strip()}\n</expected_output>\n\n"
    if team.additional_context is not None:
        text += f"<additional_context>\n{team.additional_context.strip()}\n</additional_context>\n\n"
    if team.add_session_state_to_context and context is not None:
        text += f"\n<session_state>\n{context.session_state}\n</session_state>\n\n"
    if team.output_schema is not None and team.use_json_mode:
        text += json_mode_prompt(team.output_schema)
    return text


def member_input(task: str, interactions: str = "", history: str = "") -> str:
    """What a member receives: earlier interactions, the team's history, then its task."""
    return "".join(f"{part}\n\n" for part in (interactions, history) if part) + task


def interactions_text(interactions: Sequence[tuple[str, str, RunOutput]]) -> str:
    """The (member name, task, run) of the members that ran earlier in this team run, for the next one;
    empty when none has."""
    if not interactions:
        return ""
    text = "<member_interaction_context>\nSee below interactions with other team members.\n"
    for name, task, run in interactions:
        response = run.content.model_dump() if isinstance(run.content, BaseModel) else run.content
        text += f"Member: {name}\nTask: {task}\nResponse: {response or ''}\n\n"
    return text + "</member_interaction_context>\n"


def history_text(runs: Sequence[RunOutput]) -> str:
    """The team's earlier runs (input and answer each) for a member; empty when there are none."""
    if not runs:
        return ""
    lines = ["<team_history_context>"]
    for number, run in enumerate(runs, 1):
        lines.append(f"[run-{number}]")
        if run.input:
            lines.append(f"input: {run.input}")
        if run.content:
            content = run.content
            shown = (
                content.model_dump_json(indent=2, exclude_none=True)
                if isinstance(content, BaseModel)
                else content
            )
            lines.append(f"response: {shown}")
        lines.append("")
    return "\n".join([*lines, "</team_history_context>", ""])

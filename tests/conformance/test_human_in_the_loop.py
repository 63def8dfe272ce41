"""Human in the loop as Agno's scripts use it, on Agno 3.1.10 and on kern: the run pauses at the same tool
call with the same requirement, the answers are given the same way, and after `continue_run` the model
is told the same and the run answers the same."""

from __future__ import annotations

from importlib import import_module
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern


def tools(fw: Framework) -> dict[str, Any]:
    tool = import_module(f"{fw.name}.tools").tool

    @tool(requires_confirmation=True)
    def delete_records(table: str) -> str:
        """Delete every record of a table.

        Args:
            table: The table.
        """
        return f"deleted all of {table}"

    @tool(requires_user_input=True, user_input_fields=["to_address"])
    def send_email(subject: str, to_address: str) -> str:
        """Send an email.

        Args:
            subject: The subject.
            to_address: Whom to send it to.
        """
        return f"sent {subject} to {to_address}"

    @tool(external_execution=True)
    def run_shell(command: str) -> str:
        """Run a shell command on the user's machine.

        Args:
            command: The command.
        """
        return "never run here"

    return {"delete_records": delete_records, "send_email": send_email, "run_shell": run_shell}


ANSWERS = {
    "confirm": lambda r: r.confirm(),
    "reject": lambda r: r.reject("not on a Friday"),
    "user input": lambda r: r.provide_user_input({"to_address": "ada@example.org"}),
    "external": lambda r: r.set_external_execution_result("3 files"),
}
TOOL_OF = {
    "confirm": "delete_records",
    "reject": "delete_records",
    "user input": "send_email",
    "external": "run_shell",
}


def scenario(server: ModelServer, fw: Framework, case: str) -> dict[str, Any]:
    """What a user sees: the pause, the requirement, and after the answer the run and what the model got."""
    server.clear_requests()
    name = TOOL_OF[case]
    agent = fw.Agent(name="Ops", id="ops", model=fw.model(server, reply_words=3), tools=[tools(fw)[name]])
    paused = agent.run(f"Use {name}")
    offered = server.requests[0].body["tools"][0]["parameters"]["properties"]
    (requirement,) = paused.active_requirements
    seen = {
        "status": str(paused.status.value),
        "offered": sorted(offered),
        "needs": (
            requirement.needs_confirmation,
            requirement.needs_user_input,
            requirement.needs_external_execution,
        ),
        "schema": [(f.name, f.value) for f in requirement.user_input_schema or []],
        "tool": requirement.tool_execution.tool_name,
        "requests before": len(server.requests),
    }
    ANSWERS[case](requirement)
    done = agent.continue_run(run_response=paused)
    last = server.requests[-1].body["input"]
    results = [item for item in last if item.get("type") == "function_call_output"]
    seen.update(
        done=str(done.status.value),
        content=done.content,
        told=[item["output"] for item in results],
        result=done.tools[-1].result,
    )
    return seen


@pytest.mark.parametrize("case", list(ANSWERS))
def test_pause_and_continue_as_on_agno(ray_session: None, server: ModelServer, case: str) -> None:
    assert scenario(server, kern(), case) == scenario(server, agno(), case)


def janitor(server: ModelServer, fw: Framework) -> Any:
    """A member whose tool needs a confirmation."""
    return fw.Agent(
        name="Janitor",
        id="example",
        model=fw.model(server, reply_words=3),
        tools=[tools(fw)["delete_records"]],
    )


def team_scenario(server: ModelServer, fw: Framework) -> dict[str, Any]:
    """A coordinate team whose member's tool needs a confirmation: the pause, then the continue."""
    server.clear_requests()
    member = janitor(server, fw)
    team = fw.Team(name="Ops", id="ops", members=[member], model=fw.model(server, reply_words=3))
    paused = team.run("Use delete_records")
    seen: dict[str, Any] = {
        "status": str(paused.status.value),
        "requirements": [
            (r.member_agent_name, r.member_agent_id, r.needs_confirmation, r.tool_execution.tool_name)
            for r in paused.active_requirements
        ],
        "members": [str(m.status.value) for m in paused.member_responses],
    }
    return {**seen, **confirmed_and_continued(server, team, paused)}


def confirmed_and_continued(server: ModelServer, team: Any, paused: Any) -> dict[str, Any]:
    """Every requirement of a paused team run confirmed, the run continued: how it ended, what the leader
    was told."""
    for requirement in paused.active_requirements:
        requirement.confirm()
    done = team.continue_run(run_response=paused, requirements=paused.requirements)
    last = server.requests[-1].body["input"]
    return {
        "done": str(done.status.value),
        "content": done.content,
        "members_after": [str(m.status.value) for m in done.member_responses],
        "told": [item["output"] for item in last if item.get("type") == "function_call_output"],
    }


def test_a_member_pause_pauses_the_team_and_continues_as_on_agno(
    ray_session: None, server: ModelServer
) -> None:
    assert team_scenario(server, kern()) == team_scenario(server, agno())


def tasks_scenario(server: ModelServer, fw: Framework) -> dict[str, Any]:
    """A tasks-mode team runs a task whose member's tool needs a confirmation: the pause, then the
    continue; what the leader is told, and the task list before and after."""
    server.clear_requests()
    member = janitor(server, fw)
    cleanup = {
        "id": "execute_task",
        "title": "Clean up",
        "description": "Use delete_records",
        "assignee": "example",
    }
    team = fw.Team(
        name="Ops", id="ops", members=[member], model=fw.model(server, reply_words=3),
        mode=import_module(f"{fw.name}.team").TeamMode.tasks, max_iterations=2,
        session_state={"_team_tasks": {"tasks": [cleanup]}},
    )  # fmt: skip
    paused = team.run("execute_task")
    seen: dict[str, Any] = {
        "status": str(paused.status.value),
        "requirements": [
            (r.member_agent_name, r.tool_execution.tool_name) for r in paused.active_requirements
        ],
        "task": [t["status"] for t in paused.session_state["_team_tasks"]["tasks"]],
    }
    return {**seen, **confirmed_and_continued(server, team, paused)}


def test_a_tasks_team_pauses_at_its_members_task_and_continues_as_on_agno(
    ray_session: None, server: ModelServer
) -> None:
    """The same pause, requirement, answer and words to the leader. (kern also completes the task in the
    task list once its member has answered; Agno 3.1.10 leaves it in progress.)"""
    assert tasks_scenario(server, kern()) == tasks_scenario(server, agno())

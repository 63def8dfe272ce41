"""`Team(mode=TeamMode.tasks)` on Agno 3.1.10 and on kern, the same script on both: what the leader is
told turn after turn (its task tools' answers, the task list it is shown), what the members are given,
the answer, and the task list the session state keeps.

The model server's leader calls the tools its input names (else the first, `add_task_note`) with the
input as any `task_id`; a task list seeded in `session_state` with a task whose id is a tool's name
lets it run that task."""

from __future__ import annotations

import json
import re
from importlib import import_module
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern, system_message_of

DRAFT = {"id": "execute_task", "title": "Draft", "description": "Write a draft.", "assignee": "example"}
REVIEW = {"id": "review", "title": "Review", "dependencies": ["execute_task"]}
CASES: dict[str, tuple[str, int, list[dict[str, Any]]]] = {
    "no task needed": ("Write", 3, []),
    "a task created, then the goal marked complete": ("Plan it with create_task", 4, []),
    "one turn only": ("Write", 1, []),
    "a task run by its member, which unblocks the next": ("execute_task", 3, [DRAFT, REVIEW]),
    "a blocked task": ("execute_task", 2, [{**DRAFT, "dependencies": ["review"]}, REVIEW]),
    "a status that is not one": ("update_task_status", 2, [{**DRAFT, "id": "update_task_status"}]),
    "an empty batch": ("execute_tasks_parallel", 2, [DRAFT]),
}
ID = re.compile(r"\b[0-9a-f]{8}\b")


def run_tasks(fw: Framework, server: ModelServer, case: str) -> dict[str, Any]:
    text, turns, seeded = CASES[case]
    members = [
        fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=3)),
        fw.Agent(name="Editor", model=fw.model(server, reply_words=5)),
    ]
    team = fw.Team(
        name="Desk", members=members, model=fw.model(server, reply_words=4),
        mode=import_module(f"{fw.name}.team").TeamMode.tasks, max_iterations=turns,
        session_state={"_team_tasks": {"tasks": seeded}},
    )  # fmt: skip
    server.clear_requests()
    output = team.run(text)
    leader, member_inputs = [], []
    for request in server.requests:
        body = request.body
        assert isinstance(body, dict)
        if "<team_members>" in system_message_of(body):
            leader.append([_said(i) for i in body["input"] if i.get("role") not in ("system", "developer")])
        else:
            member_inputs.append(body["input"][-1]["content"])
    tasks = output.session_state["_team_tasks"]
    kept = [{k: v for k, v in task.items() if k != "created_at"} for task in tasks["tasks"]]
    return {
        "leader": leader,
        "members": member_inputs,
        "answer": output.content,
        "tasks": {**tasks, "tasks": kept},
        "member responses": [(m.agent_id, m.content) for m in output.member_responses],
    }


def _said(item: dict[str, Any]) -> str:
    """A conversation item as text, without the ids of its call."""
    if item.get("type") == "function_call":
        return f"call {item['name']} {item['arguments']}"
    if item.get("type") == "function_call_output":
        return f"result {item['output']}"
    return f"{item.get('role')} {json.dumps(item.get('content'))}"


def same_ids(seen: dict[str, Any]) -> str:
    """The run as text, the new tasks' random ids made the same."""
    return ID.sub("<id>", json.dumps(seen, sort_keys=True))


@pytest.mark.parametrize("case", list(CASES))
def test_a_tasks_team_works_as_on_agno(ray_session: None, server: ModelServer, case: str) -> None:
    expected = run_tasks(agno(), server, case)
    assert expected["leader"] and expected["answer"]
    assert same_ids(run_tasks(kern(), server, case)) == same_ids(expected)


TASK_EVENT_FIELDS = {
    "TeamTaskIterationStarted": ("iteration", "max_iterations"),
    "TeamTaskIterationCompleted": ("iteration", "max_iterations", "task_summary"),
    "TeamTaskStateUpdated": ("task_summary", "goal_complete", "tasks", "completion_summary"),
    "TeamTaskCreated": ("task_id", "title", "description", "assignee", "status", "dependencies"),
    "TeamTaskUpdated": ("task_id", "title", "status", "previous_status", "result", "assignee"),
}


def task_events(fw: Framework, server: ModelServer, case: str) -> list[Any]:
    """The team's task events of a streamed run, with the fields Agno gives them."""
    text, turns, seeded = CASES[case]
    members = [fw.Agent(name="Writer", id="example", model=fw.model(server, reply_words=3))]
    team = fw.Team(
        name="Desk", members=members, model=fw.model(server, reply_words=4),
        mode=import_module(f"{fw.name}.team").TeamMode.tasks, max_iterations=turns,
        session_state={"_team_tasks": {"tasks": seeded}},
    )  # fmt: skip
    seen = []
    for event in team.run(text, stream=True, stream_events=True):
        name = str(getattr(event.event, "value", event.event))
        if name in TASK_EVENT_FIELDS:
            fields = {key: getattr(event, key) for key in TASK_EVENT_FIELDS[name]}
            if "tasks" in fields:
                fields["tasks"] = [task.to_dict() for task in fields["tasks"]]
            seen.append((name, fields))
    return seen


@pytest.mark.parametrize("case", [case for case, (_, _, seeded) in CASES.items() if case != "one turn only"])
def test_task_events_are_agnos(ray_session: None, server: ModelServer, case: str) -> None:
    expected = task_events(agno(), server, case)
    assert expected[0][0] == "TeamTaskIterationStarted"
    assert same_ids(task_events(kern(), server, case)) == same_ids(expected)


def test_the_task_list_is_shown_as_agno_shows_it() -> None:
    from agno.team.task import TaskList as AgnoTaskList

    from kern.engine.team_tasks import TaskList

    notes = [f"note {n}" for n in range(5)]
    tasks = [
        {**DRAFT, "status": "completed", "result": "A draft " * 40, "notes": notes},
        {**REVIEW, "assignee": "editor"},
        {"id": "publish", "title": "Publish", "status": "failed", "result": "No press."},
    ]
    state = {"_team_tasks": {"tasks": tasks, "goal_complete": True, "completion_summary": "Done."}}
    expected = AgnoTaskList.from_dict(state["_team_tasks"]).get_summary_string()
    assert TaskList.load(state).summary() == expected


def test_tasks_run_in_parallel_on_their_assignees(ray_session: None, server: ModelServer) -> None:
    """A scripted leader (the task ids must be known): both members run, each on its task's description,
    and the leader is told each outcome in Agno's words; a list whose tasks all completed ends the run."""
    from kern.models.scripted import Call, ScriptedModel, Text
    from kern.team import Team, TeamMode

    tasks = [{**DRAFT, "id": "draft"}, {"id": "edit", "title": "Edit the draft", "assignee": "editor"}]
    batch = Call(name="execute_tasks_parallel", arguments={"task_ids": ["draft", "edit"]})
    leader = ScriptedModel(replies=[[batch], [Text(text="Both done.")]])
    members = [
        kern().Agent(name="Writer", id="example", model=kern().model(server, reply_words=3)),
        kern().Agent(name="Editor", model=kern().model(server, reply_words=5)),
    ]
    team = Team(
        members,
        name="Desk",
        model=leader,
        mode=TeamMode.tasks,
        session_state={"_team_tasks": {"tasks": tasks}},
    )
    output = team.run("Write and edit")
    answers = {m.agent_id: m.content for m in output.member_responses}
    assert sorted(r.body["input"][-1]["content"] for r in server.requests) == [
        "Edit the draft",
        "Write a draft.",
    ]
    assert output.tools[0].result == (
        f"Task [draft] completed. Result: {answers['example']}\n"
        f"Task [edit] completed. Result: {answers['editor']}"
    )
    assert [t["status"] for t in output.session_state["_team_tasks"]["tasks"]] == ["completed", "completed"]
    assert output.content == "Both done."

"""The names of run events, as Agno spells them: `RunEvent` for agents, `TeamRunEvent` for teams (the same
events, each name prefixed with "Team")."""

from __future__ import annotations

from enum import StrEnum


class RunEvent(StrEnum):
    """Names of the events an agent run emits."""

    run_started = "RunStarted"
    run_content = "RunContent"
    run_content_completed = "RunContentCompleted"
    run_completed = "RunCompleted"
    run_error = "RunError"
    run_cancelled = "RunCancelled"
    run_paused = "RunPaused"
    run_continued = "RunContinued"
    tool_call_started = "ToolCallStarted"
    tool_call_completed = "ToolCallCompleted"
    tool_call_error = "ToolCallError"
    pre_hook_started = "PreHookStarted"
    pre_hook_completed = "PreHookCompleted"
    post_hook_started = "PostHookStarted"
    post_hook_completed = "PostHookCompleted"
    model_request_started = "ModelRequestStarted"
    model_request_completed = "ModelRequestCompleted"


class TeamRunEvent(StrEnum):
    """Names of the events a team run emits (members' events keep their `RunEvent` names); the `task_`
    events are a team's only (tasks mode)."""

    run_started = "TeamRunStarted"
    run_content = "TeamRunContent"
    run_content_completed = "TeamRunContentCompleted"
    run_completed = "TeamRunCompleted"
    run_error = "TeamRunError"
    run_cancelled = "TeamRunCancelled"
    run_paused = "TeamRunPaused"
    run_continued = "TeamRunContinued"
    tool_call_started = "TeamToolCallStarted"
    tool_call_completed = "TeamToolCallCompleted"
    tool_call_error = "TeamToolCallError"
    pre_hook_started = "TeamPreHookStarted"
    pre_hook_completed = "TeamPreHookCompleted"
    post_hook_started = "TeamPostHookStarted"
    post_hook_completed = "TeamPostHookCompleted"
    model_request_started = "TeamModelRequestStarted"
    model_request_completed = "TeamModelRequestCompleted"
    task_iteration_started = "TeamTaskIterationStarted"
    task_iteration_completed = "TeamTaskIterationCompleted"
    task_state_updated = "TeamTaskStateUpdated"
    task_created = "TeamTaskCreated"
    task_updated = "TeamTaskUpdated"

"""`RunContext`: what a tool sees of its run (Agno's), by declaring a parameter `run_context: RunContext`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunContext:
    """The run a tool is called in. `session_state` is the session's live state: what a tool changes in
    it is saved with the run, and seen by the run's next tool calls and by the session's next runs."""

    run_id: str
    session_id: str
    user_id: str | None = None
    session_state: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    output_schema: Any = None
    knowledge_filters: None = None
    workflow_id: None = None
    workflow_name: None = None

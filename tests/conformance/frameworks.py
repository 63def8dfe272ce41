"""The same Agno-style script on Agno 3.1.10 (a test-only dependency) and on kern: what differs is the
import, nothing else. Both talk to the test session's model server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kern.model_server import ModelServer

os.environ.setdefault("AGNO_TELEMETRY", "false")


@dataclass(frozen=True)
class Framework:
    """`from <name>.agent import Agent`, `from <name>.team import Team`, `from <name>.models.openai import
    OpenAIResponses`."""

    name: str
    Agent: Any
    Team: Any
    OpenAIResponses: Any

    def model(self, server: ModelServer, **speed: float) -> Any:
        """A Responses model on the local server (its speed set by request headers, as in tests.support)."""
        headers = {f"x-kern-{key.replace('_', '-')}": str(value) for key, value in speed.items()}
        return self.OpenAIResponses(
            id="gpt-conformance", base_url=server.base_url, api_key="kern-test", default_headers=headers
        )


def agno() -> Framework:
    from agno.agent import Agent
    from agno.models.openai import OpenAIResponses
    from agno.team import Team

    return Framework("agno", Agent, Team, OpenAIResponses)


def kern() -> Framework:
    from kern.agent import Agent
    from kern.models.openai import OpenAIResponses
    from kern.team import Team

    return Framework("kern", Agent, Team, OpenAIResponses)


def system_message_of(body: object) -> str:
    """The system message of a recorded Responses request: kern sends `instructions`, Agno a
    system/developer input item."""
    assert isinstance(body, dict)
    items = [i for i in body.get("input", []) if i.get("role") in ("system", "developer")]
    text = body.get("instructions") or (items[0]["content"] if items else "")
    if isinstance(text, list):
        text = "".join(part.get("text", "") for part in text)
    return str(text).strip()

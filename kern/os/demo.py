"""The demo AgentOS: the seed's Storytelling Team, on the bundled model server when there is no API key."""

from __future__ import annotations

import os

from kern.agent import Agent
from kern.db.url import DB_URL_VARIABLE
from kern.demo import DEMO_MODEL
from kern.model_server import ModelServer
from kern.models.openai import OpenAIResponses
from kern.os.agentos import AgentOS
from kern.team import Team

DEFAULT_DB_URL = "sqlite:///kern.db"


def local_model_unless_api_key(prefix: str = "[kern serve]") -> ModelServer | None:
    """Without `OPENAI_API_KEY`, start the bundled model server and point OpenAI clients at it.

    Returns the server to stop at exit, or None when the real OpenAI API is used.
    """
    if os.environ.get("OPENAI_API_KEY"):
        print(f"{prefix} Using OpenAI (OPENAI_API_KEY is set)", flush=True)
        return None
    server = ModelServer(DEMO_MODEL.model_copy()).start()
    os.environ["OPENAI_BASE_URL"] = server.base_url
    os.environ["OPENAI_API_KEY"] = "kern-local"
    print(f"{prefix} No OPENAI_API_KEY: using the bundled model server at {server.base_url}", flush=True)
    return server


def demo_os() -> AgentOS:
    """The seed's team (and its two agents), storing runs in `KERN_DB_URL` (default `sqlite:///kern.db`)."""
    os.environ.setdefault(DB_URL_VARIABLE, DEFAULT_DB_URL)
    storyteller = Agent(
        name="StorytellerAgent",
        model=OpenAIResponses(id="gpt-5.2"),
        description="An agent that writes creative stories",
    )
    editor = Agent(
        name="EditorAgent",
        model=OpenAIResponses(id="gpt-5.2"),
        description="An agent that reviews and improves stories",
    )
    team = Team(
        name="Storytelling Team",
        members=[storyteller, editor],
        model=OpenAIResponses(id="gpt-5.2"),
        description="A team that collaborates to write detailed stories",
    )
    return AgentOS(agents=[storyteller, editor], teams=[team])

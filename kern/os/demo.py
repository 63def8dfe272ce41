"""The demo AgentOS: the seed's Storytelling Team, on the bundled model server when there is no API key."""

from __future__ import annotations

import os

from kern.agent import Agent
from kern.db.url import DB_URL_VARIABLE
from kern.demo import DEFAULT_DB_URL
from kern.models.openai import OpenAIResponses
from kern.os.agentos import AgentOS
from kern.team import Team


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

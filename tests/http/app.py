"""The AgentOS the HTTP tests serve with `kern serve tests.http.app:os_app` (in a subprocess).

Models point at the test session's model server (`KERN_TEST_MODEL_URL`), each with its own model id
(so the model server's request log tells them apart) and its own speed (request headers). Runs are
stored in `KERN_TEST_DB_URL`, given to the components by the AgentOS (they are built without a db).
"""

from __future__ import annotations

import os

from kern.admission import Admission
from kern.agent import Agent
from kern.db import db_from_url
from kern.model_server.config import HEADER_FIRST_TOKEN_DELAY, HEADER_REPLY_WORDS, HEADER_TOKENS_PER_SECOND
from kern.models.openai import OpenAIResponses
from kern.os import AgentOS
from kern.team import Team
from kern.tools import tool

SLOW = {"tokens_per_second": 40.0, "reply_words": 4000}
"""About 100 s for a whole reply: a run that is still streaming when the test cancels it."""
STALL_SECONDS = 120.0
"""The stalled writer's model thinks this long before its first token."""
FAST = {"tokens_per_second": 0.0, "reply_words": 20}
FIREHOSE = {"tokens_per_second": 0.0, "reply_words": 200_000}
"""As fast as the model server can go, one event per word: far more than a client that stops reading may
hold."""


def model(
    model_id: str, *, tokens_per_second: float, reply_words: int, delay: float = 0.0
) -> OpenAIResponses:
    """A Responses model on the test model server with its speed set by request headers."""
    headers = {
        HEADER_TOKENS_PER_SECOND: str(tokens_per_second),
        HEADER_REPLY_WORDS: str(reply_words),
        HEADER_FIRST_TOKEN_DELAY: str(delay),
    }
    return OpenAIResponses(id=model_id, base_url=os.environ["KERN_TEST_MODEL_URL"], default_headers=headers)


def word_count(text: str) -> str:
    """Count the words of a text.

    Args:
        text: The text.
    """
    return f"{len(text.split())} words"


@tool(requires_confirmation=True)
def publish(title: str) -> str:
    """Publish a story, once someone has said yes.

    Args:
        title: The story's title.
    """
    return f"published {title}"


def os_app() -> AgentOS:
    """Agents (fast, slow, stalled, one that needs approval, one that lets one run in at a time) and
    teams; the seed's Storytelling Team has slow members."""
    storyteller = Agent(
        name="StorytellerAgent",
        model=model("story-slow", **SLOW),
        description="An agent that writes creative stories",
    )
    editor = Agent(
        name="EditorAgent",
        model=model("editor-slow", **SLOW),
        description="An agent that reviews and improves stories",
    )
    storytelling = Team(
        name="Storytelling Team",
        members=[storyteller, editor],
        model=model("leader-fast", **FAST),
        description="A team that collaborates to write detailed stories",
    )
    quick = Team(
        name="Quick Team",
        members=[Agent(name="Quick Writer", model=model("quick-writer", **FAST), description="Writes fast")],
        model=model("quick-leader", **FAST),
        respond_directly=True,
    )
    writer = Agent(name="Writer", model=model("writer", **FAST), tools=[word_count], instructions="Be brief.")
    slow_writer = Agent(name="Slow Writer", model=model("slow-writer", **SLOW))
    stalled_writer = Agent(name="Stalled Writer", model=model("stalled", **SLOW, delay=STALL_SECONDS))
    publisher = Agent(name="Publisher", model=model("publisher", **FAST), tools=[publish])
    gated = Agent(
        name="Gated Writer", model=model("gated", **SLOW), admission=Admission(max_runs=1, max_queued=1)
    )
    db = db_from_url(os.environ["KERN_TEST_DB_URL"])
    agents = [writer, slow_writer, stalled_writer, publisher, gated]
    desk_publisher = Agent(name="Desk Publisher", model=model("desk-publisher", **FAST), tools=[publish])
    desk = Team(name="Publishing Desk", members=[desk_publisher], model=model("desk-leader", **FAST))
    return AgentOS(agents=agents, teams=[storytelling, quick, desk], db=db)


def firehose_os() -> AgentOS:
    """One agent whose model streams as fast as it can for 200,000 words (the backpressure tests)."""
    firehose = Agent(name="Firehose Writer", model=model("firehose", **FIREHOSE))
    return AgentOS(agents=[firehose], db=db_from_url(os.environ["KERN_TEST_DB_URL"]))

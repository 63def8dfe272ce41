"""The fresh script that `cold_start.py` times: a one-member team streams one reply (kern or Agno).

    python cold_start_script.py kern|agno BASE_URL [TEAM_ID]

Prints one JSON line of wall-clock stamps (`time.time()`, comparable with the parent's and the model
server's on this machine): imports done, Ray attached (kern), the run call, the team and member runs
started in their actors (kern: `created_at`), the first content event received.
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402


def is_content(event: Any) -> bool:
    kind = getattr(event, "event", None)
    return str(getattr(kind, "value", kind)).endswith("RunContent") and bool(getattr(event, "content", None))


def kern_team(base_url: str, team_id: str) -> tuple[Any, dict[str, Any]]:
    from kern.agent import Agent
    from kern.models.openai import OpenAIResponses
    from kern.team import Team

    stamps: dict[str, Any] = {"imported": time.time()}
    import ray

    from actors.runtime import ensure_ray

    ensure_ray()  # what the first run does anyway; called here only to time it
    stamps.update(attached=time.time(), gcs_address=ray.get_runtime_context().gcs_address)

    def model() -> OpenAIResponses:
        return OpenAIResponses(id="gpt-bench", api_key="bench", base_url=base_url)

    writer = Agent(name=f"{team_id} Writer", description="Writes stories", model=model())
    return Team(name=team_id, members=[writer], model=model()), stamps


def agno_team(base_url: str, team_id: str) -> tuple[Any, dict[str, Any]]:
    from agno.agent import Agent
    from agno.models.openai import OpenAIResponses
    from agno.team import Team

    stamps: dict[str, Any] = {"imported": time.time()}

    def model() -> OpenAIResponses:
        return OpenAIResponses(id="gpt-bench", api_key="bench", base_url=base_url)

    # The simulated leader names the member "example" (Agno's member_id is a free string).
    writer = Agent(id="example", name="Writer", description="Writes stories", model=model(), telemetry=False)
    team = Team(name=team_id, members=[writer], model=model(), stream_member_events=True, telemetry=False)
    return team, stamps


def main() -> None:
    framework, base_url = sys.argv[1], sys.argv[2]
    team_id = sys.argv[3] if len(sys.argv) > 3 else "Cold Team"
    team, stamps = (kern_team if framework == "kern" else agno_team)(base_url, team_id)
    stamps["started"] = STARTED
    extra = {"stream_events": True} if framework == "agno" else {}
    stamps["call"] = time.time()
    for event in team.run("Tell me a short story", stream=True, **extra):
        name = str(getattr(event.event, "value", event.event))
        if framework == "kern" and name in ("TeamRunStarted", "RunStarted") and name not in stamps:
            stamps[name] = event.created_at
        if is_content(event) and "first_content" not in stamps:
            stamps["first_content"] = time.time()
    stamps["done"] = time.time()
    print(json.dumps(stamps), flush=True)


if __name__ == "__main__":
    main()

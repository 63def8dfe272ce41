"""Stream one agent's story and cancel it from another thread a few seconds into the story.

Run it with `kern demo examples/agent_cancellation.py` (bundled model server unless OPENAI_API_KEY is set).
"""

import threading
import time

from kern.agent import Agent
from kern.models.openai import OpenAIResponses
from kern.run.agent import RunEvent

agent = Agent(name="Storyteller", model=OpenAIResponses(id="gpt-5.2"), description="Writes long stories")


def cancel_soon(run_id: str) -> None:
    time.sleep(3)
    print(f"\n>>> cancel_run({run_id}) -> {agent.cancel_run(run_id)}")


canceller: threading.Thread | None = None
for event in agent.run("Tell me a very long story about a dragon who learns to code.", stream=True):
    if event.event == RunEvent.run_content:
        if canceller is None:
            canceller = threading.Thread(target=cancel_soon, args=(event.run_id,), daemon=True)
            canceller.start()
        print(event.content, end="", flush=True)
    elif event.event in (RunEvent.run_cancelled, RunEvent.run_completed, RunEvent.run_error):
        print(f"\n>>> {event.event}: status={event.status.value}, {len(event.content.split())} words kept")

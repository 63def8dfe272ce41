"""`kern demo`: the seed scenario on local Ray, on the bundled model server unless OPENAI_API_KEY is set."""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path

from actors.runtime import ensure_ray
from kern.db.url import DB_URL_VARIABLE, default_db, mask_password
from kern.model_server import ModelServer, ModelServerConfig
from kern.run.agent import RunOutput

DEFAULT_EXAMPLE = Path("examples/team_run_cancellation.py")
DEFAULT_DB_URL = "sqlite:///kern.db"
DEMO_MODEL = ModelServerConfig(tokens_per_second=40.0, reply_words=2500, first_token_delay=0.3)
"""A model slow enough that the seed's cancel after 8 s lands in the middle of the member's story."""


def local_model_unless_api_key(prefix: str) -> ModelServer | None:
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


def run_demo(example: Path = DEFAULT_EXAMPLE) -> None:
    """Run an example file unchanged on local Ray, then show what storage kept of its last session."""
    if not example.is_file():
        raise SystemExit(f"kern demo: example file {example} not found (run it from the repository root)")
    server = local_model_unless_api_key("[kern demo]")
    os.environ.setdefault(DB_URL_VARIABLE, DEFAULT_DB_URL)
    print(f"[kern demo] Runs are stored in {mask_password(os.environ[DB_URL_VARIABLE])}")
    print("[kern demo] Starting local Ray...")
    ensure_ray()
    started = time.time()
    try:
        runpy.run_path(str(example), run_name="__main__")
        show_stored_runs(since=started)
    finally:
        if server is not None:
            server.stop()


def show_stored_runs(since: float, wait_seconds: float = 5.0) -> None:
    """Print the runs of the newest session started after `since`, once they have all ended."""
    db = default_db()
    if db is None:
        return
    deadline = time.monotonic() + wait_seconds
    while True:
        sessions = [s for s in db.get_sessions(limit=1) if s.created_at >= since]
        runs = db.get_session_runs(sessions[0].session_id) if sessions else []
        everything = [*runs, *(m for run in runs for m in getattr(run, "member_responses", []))]
        if (everything and all(run.status.is_terminal for run in everything)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for run in runs:
        print(f"[kern demo] Stored: {_describe(run)}")
        for member in getattr(run, "member_responses", []):
            print(f"[kern demo]   member {_describe(member)}")


def _describe(run: RunOutput) -> str:
    name = getattr(run, "team_name", None) or run.agent_name
    return f"{name} run {run.run_id} {run.status.value}, {len(run.content.split())} words kept"

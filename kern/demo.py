"""`kern demo`: the seed scenario on local Ray, on the bundled model server unless OPENAI_API_KEY is set."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from actors.runtime import ensure_ray
from kern.db.url import DB_URL_VARIABLE
from kern.model_server import ModelServer, ModelServerConfig

DEFAULT_EXAMPLE = Path("examples/team_run_cancellation.py")
DEMO_MODEL = ModelServerConfig(tokens_per_second=40.0, reply_words=2500, first_token_delay=0.3)
"""A model slow enough that the seed's cancel after 8 s lands in the middle of the member's story."""


def run_demo(example: Path = DEFAULT_EXAMPLE) -> None:
    """Run an example file unchanged, pointing kern at the local model server when there is no API key."""
    if not example.is_file():
        raise SystemExit(f"kern demo: example file {example} not found (run it from the repository root)")
    server: ModelServer | None = None
    if not os.environ.get("OPENAI_API_KEY"):
        server = ModelServer(DEMO_MODEL).start()
        os.environ["OPENAI_BASE_URL"] = server.base_url
        os.environ["OPENAI_API_KEY"] = "kern-local"
        print(f"[kern demo] No OPENAI_API_KEY: using the bundled model server at {server.base_url}")
    else:
        print("[kern demo] Using OpenAI (OPENAI_API_KEY is set)")
    os.environ.setdefault(DB_URL_VARIABLE, "sqlite:///kern.db")
    print(f"[kern demo] Runs are stored in {os.environ[DB_URL_VARIABLE]}")
    print("[kern demo] Starting local Ray...")
    ensure_ray()
    try:
        runpy.run_path(str(example), run_name="__main__")
    finally:
        if server is not None:
            server.stop()

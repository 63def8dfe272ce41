"""`@tool(cache_results=True)`: a tool's results kept on disk for `cache_ttl` seconds, by tool, caller and
arguments (as Agno keeps them), where the tool runs: on the agent's actor, so on that node."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from kern.run.context import RunContext


def cache_file(directory: str | None, name: str, arguments: dict[str, Any]) -> Path:
    """Where a call's result is kept: one file per tool, caller (user and session, when the tool takes
    a `run_context`) and arguments, so one user's results are never served to another."""
    given = {key: value for key, value in arguments.items() if key not in ("agent", "team")}
    context = next((value for value in given.values() if isinstance(value, RunContext)), None)
    caller = {"user_id": context.user_id, "session_id": context.session_id} if context is not None else None
    shown = {key: value for key, value in given.items() if not isinstance(value, RunContext)}
    key = json.dumps([name, caller, shown], sort_keys=True, default=str)
    folder = Path(directory or Path(tempfile.gettempdir()) / "kern_cache") / "functions" / name
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()}.json"


def cached(path: Path, ttl: float) -> str | None:
    """The kept result, if there is one younger than `ttl` seconds."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if time.time() - entry.get("timestamp", 0) > ttl or not isinstance(entry.get("result"), str):
        return None
    return str(entry["result"])


def keep(path: Path, result: str) -> None:
    """Keep a result (written whole, then renamed, so a reader never sees half a file)."""
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"timestamp": time.time(), "result": result}), encoding="utf-8")
    partial.replace(path)

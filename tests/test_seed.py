"""The seed example runs unchanged through `kern demo` and shows member- and team-level cancellation."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray

from kern.db import SqliteDb
from kern.run.base import RunStatus

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "team_run_cancellation.py"
SEED = REPO.parent / "shared" / "seed" / "team_run_cancellation.py"


@pytest.mark.skipif(not SEED.exists(), reason="the shared seed is not beside the repository")
def test_example_is_the_seed_byte_for_byte() -> None:
    assert EXAMPLE.read_bytes() == SEED.read_bytes()


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("ray_session")
def test_demo_runs_the_seed_and_cancels(tmp_path: Path) -> None:
    db_file = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update(RAY_ADDRESS=ray.get_runtime_context().gcs_address, KERN_DB_URL=f"sqlite:///{db_file}")
    done = subprocess.run(
        [sys.executable, "-m", "kern", "demo", str(EXAMPLE)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "using the bundled model server" in out
    assert "Team run started: " in out
    assert "Once upon a time" in out, "the story streamed before the cancel"
    assert "Member run was cancelled: " in out
    assert "Status: cancelled" in out and "Was Cancelled: True" in out
    assert "SUCCESS: Team run was successfully cancelled!" in out
    assert "marked for cancellation" in out, "cancel_run returned True for the run in flight"
    team_run_id = out.split("Team run started: ")[1].split()[0]
    member_run_id = out.split("Member run was cancelled: ")[1].split()[0]
    # The runs were stored where they executed, with their status and partial content.
    db = SqliteDb(db_file=str(db_file))
    deadline = time.monotonic() + 10
    while (team_run := db.get_run(team_run_id)) is None or not team_run.status.is_terminal:
        assert time.monotonic() < deadline, "the team run was not stored as finished"
        time.sleep(0.1)
    assert team_run.status is RunStatus.cancelled
    [member] = team_run.member_responses
    assert member.run_id == member_run_id and member.status is RunStatus.cancelled
    assert member.content.startswith("Once upon a time")

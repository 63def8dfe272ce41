"""Whatever dies, hangs or stops reading on one Ray node, every run ends once, visibly, within a bound.

Real actors, the real supervisor, real caller processes. The multi-node rows (a node that hangs or
dies) are in tests/scripts/node_failures.py; the engine's ordering rules under random cancels and
failures in tests/engine/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import ray

from actors.link import LINK_EXPIRY_SECONDS
from actors.runtime import NAMESPACE, supervisor
from kern.agent import Agent
from kern.db.sqlite import SqliteDb
from kern.engine import inbox
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.base import RunStatus
from kern.run.team import TeamRunEvent
from kern.team import Team
from tests.support import SlowFinalDb, assert_one_terminal_last, model, names, until_member_content

pytestmark = pytest.mark.usefixtures("ray_session")


def slow_team(server: ModelServer, name: str, **options: Any) -> Team:
    """A team whose member streams for 40 s: its run is in flight whenever the test strikes."""
    writer = Agent(name=f"{name} Writer", model=model(server, tokens_per_second=50, reply_words=2000))
    return Team(name=name, members=[writer], model=model(server), **options)


def quick_team(server: ModelServer, name: str) -> Team:
    """The same team (same actors) with a member that answers at once."""
    return Team(name=name, members=[Agent(name=f"{name} Writer", model=model(server))], model=model(server))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until `condition` held; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what} not within {timeout:.0f} s"
        time.sleep(0.05)
    return time.monotonic() - start


def kill_supervisor(*, for_good: bool) -> None:
    """Kill the supervisor's process and wait until it is gone (a cancel sent while it is dying may be
    taken by it, then sent again to the new one, which answers False: the run has ended)."""
    handle = supervisor()
    pid = ray.get(handle.__ray_call__.remote(lambda _: os.getpid()), timeout=15)
    ray.kill(handle, no_restart=for_good)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the supervisor's death")


def live_runs() -> dict[str, str | None]:
    return ray.get(supervisor().live_runs.remote(), timeout=15)


def running_on(actor_name: str) -> list[str]:
    return ray.get(ray.get_actor(actor_name, namespace=NAMESPACE).running.remote(), timeout=15)


def pid_of(actor_name: str) -> int:
    actor = ray.get_actor(actor_name, namespace=NAMESPACE)
    return ray.get(actor.__ray_call__.remote(lambda _: os.getpid()), timeout=15)


def test_a_restarted_supervisor_still_cancels_runs_in_flight(server: ModelServer) -> None:
    team = slow_team(server, "Restart Team")
    events: list[Any] = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    kill_supervisor(for_good=False)  # Ray restarts it, its tables empty

    started = time.monotonic()
    assert team.cancel_run(events[0].run_id) is True
    events.extend(stream)
    # (The bound includes the restart: a new supervisor process, kern imported; 5.6 s on a loaded machine.)
    assert time.monotonic() - started < 10
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"]
    assert_one_terminal_last(events, events[0].run_id)


def test_walking_away_after_a_supervisor_restart_stops_the_run(server: ModelServer) -> None:
    team = slow_team(server, "Walkaway Team")
    events: list[Any] = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    member_run = next(e.run_id for e in events if e.event == RunEvent.run_started)
    kill_supervisor(for_good=False)
    stream.close()
    wait_until(
        lambda: member_run not in running_on("kern:agent:walkaway-team-writer"), 5, "the member's cancel"
    )
    assert server.wait_for_disconnect(timeout=5).words_sent < 2000


def test_a_supervisor_killed_for_good_is_made_anew_and_relearns_the_runs(server: ModelServer) -> None:
    team = slow_team(server, "Orphaned Team")
    events: list[Any] = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    kill_supervisor(for_good=True)

    assert team.cancel_run(events[0].run_id) is True, "a new supervisor learns the run from its actor"
    events.extend(stream)
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"]
    assert quick_team(server, "Orphaned Team").run("Again").status is RunStatus.completed
    assert Agent(name="Newcomer", model=model(server)).run("Hi").status is RunStatus.completed


def test_a_dead_team_actor_ends_its_run_and_cancels_its_members(server: ModelServer, tmp_path: Any) -> None:
    db = SqliteDb(tmp_path / "doomed.db")
    team = slow_team(server, "Doomed Team", db=db)
    events: list[Any] = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    team_run = events[0].run_id
    member_run = next(e.run_id for e in events if e.event == RunEvent.run_started)

    os.kill(pid_of("kern:team:doomed-team"), signal.SIGKILL)
    killed = time.monotonic()
    events.extend(stream)
    final = events[-1]
    assert final.event == TeamRunEvent.run_error and final.error_type == "ActorLost", names(events)
    assert time.monotonic() - killed < 5, "the caller learns of the loss at once"
    assert_one_terminal_last(events, team_run)  # the member run in the stream got its stand-in too
    # The orphaned member run is found and cancelled by the runtime, its model stream closed.
    wait_until(
        lambda: member_run not in running_on("kern:agent:doomed-team-writer"), 10, "the orphan's cancel"
    )
    assert server.wait_for_disconnect(timeout=5).words_sent < 2000
    assert team_run not in live_runs() and member_run not in live_runs()
    # Nothing stays RUNNING: the caller stored the team run as failed, the member stored its cancel.
    wait_until(lambda: db.get_run(team_run) is not None and db.get_run(team_run).status is RunStatus.error,
               5, "the team run's ERROR record")  # fmt: skip
    wait_until(lambda: db.get_run(member_run).status is RunStatus.cancelled, 5, "the member's record")
    # The next run is placed on the team's new actor, without an exception.
    started = time.monotonic()
    assert quick_team(server, "Doomed Team").run("Again").status is RunStatus.completed
    assert time.monotonic() - started < 10


def test_a_caller_that_stops_reading_cannot_stall_the_shared_actor(server: ModelServer) -> None:
    reader = subprocess.Popen(
        [sys.executable, "-c", STOPPED_READER, server.base_url],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address},
    )
    try:
        assert reader.stdout is not None
        stopped_run = reader.stdout.readline().split()[-1]
        team = Team(
            name="Shared Team",
            members=[Agent(name="Shared Writer", model=model(server))],
            model=model(server),
        )
        assert team.run("Warm up").status is RunStatus.completed
        os.kill(reader.pid, signal.SIGSTOP)
        durations = []
        deadline = time.monotonic() + LINK_EXPIRY_SECONDS + 8
        while time.monotonic() < deadline:
            start = time.monotonic()
            assert team.run("Quick").status is RunStatus.completed
            durations.append(time.monotonic() - start)
            time.sleep(0.3)
        assert max(durations) < 3, f"other callers' runs stalled: {max(durations):.1f} s"
        # The stopped caller's run was cancelled once its link expired.
        assert stopped_run not in running_on("kern:team:shared-team")
    finally:
        os.kill(reader.pid, signal.SIGKILL)
        reader.wait()


STOPPED_READER = """
import sys, time
from kern.agent import Agent
from kern.team import Team
from kern.models.openai import OpenAIChat

def slow(words):
    return OpenAIChat(id="gpt-test", base_url=sys.argv[1],
                      default_headers={"x-kern-tokens-per-second": "50", "x-kern-reply-words": str(words)})
team = Team(name="Shared Team", members=[Agent(name="Shared Writer", model=slow(3000))], model=slow(20))
for event in team.run("Write", stream=True):
    print("RUN", event.run_id, flush=True)
    time.sleep(3600)  # never reads on; the test stops this process
"""


def test_a_caller_that_leaves_its_stream_unread_has_its_run_cancelled(
    server: ModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "MAX_UNREAD_FRAMES", 50)
    agent = Agent(name="Chatty Agent", model=model(server, tokens_per_second=500, reply_words=5000))
    stream = agent.run("Talk", stream=True)
    first = next(stream)
    time.sleep(1.0)  # not reading: hundreds of tokens pile up
    events = [first, *stream]
    assert events[-1].event == RunEvent.run_cancelled, names(events)
    assert 0 < len(events[-1].content) < 5000 * 8
    assert_one_terminal_last(events, first.run_id)


def test_cancel_answers_are_exact_near_the_end_of_the_answer(server: ModelServer) -> None:
    """True means the run ends cancelled, False that it completed: at cancel instants around the end."""
    team = Team(
        name="Closing Team",
        members=[Agent(name="Closing Writer", model=model(server))],
        model=model(server, tokens_per_second=400, reply_words=40),
    )
    outcomes = []
    for delay in [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14]:
        events: list[Any] = []
        answers: list[bool] = []
        for event in team.run("Write", stream=True):
            events.append(event)
            if event.event == TeamRunEvent.run_content and not answers:
                answers.append(False)
                timer = threading.Timer(delay, cancel_into, args=(team, events[0].run_id, answers))
                timer.start()
        timer.join()
        final = events[-1]
        assert final.event in (TeamRunEvent.run_cancelled, TeamRunEvent.run_completed)
        assert answers[-1] is (final.event == TeamRunEvent.run_cancelled), (delay, answers, names(events))
        outcomes.append(final.event)
    assert TeamRunEvent.run_cancelled in outcomes
    # At the very end: the run's actor has finished it, though the supervisor may not know yet.
    for _ in range(5):
        final = list(team.run("Write", stream=True))[-1]
        assert final.event == TeamRunEvent.run_completed
        assert team.cancel_run(final.run_id) is False, "a completed run cannot be cancelled"


def test_a_cancel_while_the_run_saves_its_final_record_is_refused(server: ModelServer, tmp_path: Any) -> None:
    """The answer is complete and being saved: the run will complete, so the cancel must say False."""
    team = Team(
        name="Saving Team",
        members=[Agent(name="Saving Writer", model=model(server))],
        model=model(server),
        db=SlowFinalDb(tmp_path / "slow.db"),
    )
    events: list[Any] = []
    answers: list[bool] = []
    for event in team.run("Write", stream=True):
        events.append(event)
        member_done = any(e.event == RunEvent.run_completed for e in events)
        if member_done and event.event == TeamRunEvent.run_content_completed and not answers:
            time.sleep(0.3)  # the leader's answer is complete: its record is being saved
            answers.append(team.cancel_run(events[0].run_id))
    assert events[-1].event == TeamRunEvent.run_completed, names(events)
    assert answers == [False]


def cancel_into(team: Team, run_id: str, answers: list[bool]) -> None:
    answers.append(team.cancel_run(run_id))


FRESH_CANCEL = """
import sys
from kern.agent import Agent
from kern.team import Team
print("ANSWER", Team(name="Fresh Team", members=[Agent(name="Fresh Writer")]).cancel_run(sys.argv[1]))
"""


def test_a_fresh_process_cancels_by_connecting_to_the_cluster(server: ModelServer, tmp_path: Path) -> None:
    """No `RAY_ADDRESS`: the process finds the cluster as `ray.init()` does, here from the record a
    `ray start` leaves in Ray's temp dir (the test's own: no other cluster on the machine counts)."""
    team = slow_team(server, "Fresh Team")
    events: list[Any] = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(ray.get_runtime_context().gcs_address)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-c", FRESH_CANCEL, events[0].run_id],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "TMPDIR": str(tmp_path)},
    )
    assert "ANSWER True" in done.stdout, done.stdout + done.stderr[-2000:]
    events.extend(stream)
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"]

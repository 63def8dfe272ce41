"""Saving and reading runs and sessions, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from kern.db import BaseDb, SessionRecord
from kern.messages import Message
from kern.run.agent import RunOutput
from kern.run.base import Metrics, RunStatus
from kern.run.team import TeamRunOutput

T0 = 1_700_000_000.0


def agent_run(run_id: str, at: float, **kw: object) -> RunOutput:
    fields: dict[str, object] = {
        "agent_id": "agent-1",
        "agent_name": "Agent One",
        "session_id": "s1",
        "user_id": "u1",
        "input": f"question {run_id}",
        "content": f"answer {run_id}",
        "status": RunStatus.completed,
        "created_at": T0 + at,
    }
    fields.update(kw)
    return RunOutput(run_id=run_id, **fields)  # type: ignore[arg-type]


def team_run(run_id: str, at: float, members: list[RunOutput], **kw: object) -> TeamRunOutput:
    fields: dict[str, object] = {
        "team_id": "team-1",
        "team_name": "Team One",
        "session_id": "s1",
        "user_id": "u1",
        "content": f"team answer {run_id}",
        "status": RunStatus.completed,
        "created_at": T0 + at,
        "member_responses": members,
    }
    fields.update(kw)
    return TeamRunOutput(run_id=run_id, **fields)  # type: ignore[arg-type]


def as_member(run: RunOutput, parent: str) -> RunOutput:
    return run.model_copy(update={"parent_run_id": parent})


def count_rows(db: BaseDb) -> int:
    with db.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(db._tables.runs)).scalar_one()


def ids(runs: list[RunOutput]) -> list[str]:
    return [r.run_id for r in runs]


# ----- runs ------------------------------------------------------------------------------------------


def test_terminal_runs_keep_their_status_and_content(db: BaseDb) -> None:
    done = agent_run(
        "done",
        1,
        messages=[Message(role="user", content="hi"), Message(role="assistant", content="hello")],
        metrics=Metrics(input_tokens=3, output_tokens=5, total_tokens=8, model_calls=1),
        model="gpt-test",
    )
    cancelled = agent_run("cancelled", 2, status=RunStatus.cancelled, content="half an ans")
    failed = agent_run("failed", 3, status=RunStatus.error, content="partial", error="boom: model down")
    for run in (done, cancelled, failed):
        db.save_run(run)

    for run in (done, cancelled, failed):
        got = db.get_run(run.run_id)
        assert type(got) is RunOutput
        assert got.model_dump() == run.model_dump()
    assert db.get_run("cancelled").status is RunStatus.cancelled  # type: ignore[union-attr]
    assert db.get_run("cancelled").content == "half an ans"  # type: ignore[union-attr]
    assert db.get_run("failed").error == "boom: model down"  # type: ignore[union-attr]


def test_run_saved_at_start_then_at_end(db: BaseDb) -> None:
    start = agent_run("r1", 1, status=RunStatus.running, content="")
    db.save_run(start)
    assert db.get_run("r1").status is RunStatus.running  # type: ignore[union-attr]

    end = start.model_copy(update={"status": RunStatus.completed, "content": "the answer"})
    db.save_run(end)
    assert db.get_run("r1").model_dump() == end.model_dump()  # type: ignore[union-attr]
    assert ids(db.get_session_runs("s1")) == ["r1"]
    assert count_rows(db) == 1


def test_a_late_non_terminal_save_does_not_undo_the_end(db: BaseDb) -> None:
    end = agent_run("r1", 1, status=RunStatus.completed, content="final")
    db.save_run(end)
    db.save_run(end.model_copy(update={"status": RunStatus.running, "content": ""}))
    assert db.get_run("r1").model_dump() == end.model_dump()  # type: ignore[union-attr]


def test_team_members_are_rows_of_their_own_in_start_order(db: BaseDb) -> None:
    late = agent_run("m-late", 5, agent_id="writer", session_id=None, user_id=None)
    early = agent_run("m-early", 4, agent_id="researcher", status=RunStatus.error, error="x")
    team = team_run("t1", 3, [late, early])
    db.save_run(team)

    got = db.get_run("t1")
    assert type(got) is TeamRunOutput
    assert ids(got.member_responses) == ["m-early", "m-late"]
    member = db.get_run("m-late")
    assert member is not None and member.parent_run_id == "t1"
    assert member.session_id == "s1" and member.user_id == "u1"  # inherited from the team
    assert db.get_run("m-early").status is RunStatus.error  # type: ignore[union-attr]
    assert ids(db.get_session_runs("s1")) == ["t1"]
    assert count_rows(db) == 3
    with db.engine.connect() as conn:
        data = conn.execute(
            select(db._tables.runs.c.data).where(db._tables.runs.c.run_id == "t1")
        ).scalar_one()
    assert "member_responses" not in data


def test_member_saved_alone_before_or_after_its_team_ends_the_same(db: BaseDb) -> None:
    def scenario(prefix: str, member_first: bool) -> TeamRunOutput:
        tid, session = f"{prefix}-team", f"{prefix}-session"
        member = agent_run(
            f"{prefix}-m", 2, session_id=session, parent_run_id=tid, input="q", content="member says"
        )
        team = team_run(tid, 1, [member], session_id=session, content="team says")
        db.save_run(team.model_copy(update={"status": RunStatus.running, "member_responses": []}))
        order = [member, team] if member_first else [team, member]
        for run in order:
            db.save_run(run)
        got = db.get_run(tid)
        assert isinstance(got, TeamRunOutput)
        assert ids(db.get_session_runs(session)) == [tid]
        return got

    a = scenario("a", member_first=True)
    b = scenario("b", member_first=False)
    assert count_rows(db) == 4

    def normal(run: TeamRunOutput, prefix: str) -> dict[str, object]:
        dumped = run.model_dump_json().replace(f'"{prefix}-', '"x-')
        return TeamRunOutput.model_validate_json(dumped).model_dump()

    assert normal(a, "a") == normal(b, "b")
    assert a.member_responses[0].content == "member says"
    assert a.member_responses[0].parent_run_id == "a-team"


def test_nested_teams(db: BaseDb) -> None:
    b = agent_run("b", 3, agent_id="b")
    c = agent_run("c", 4, agent_id="c")
    inner = team_run("inner", 2, [b, c], team_id="inner-team")
    a = agent_run("a", 1.5, agent_id="a")
    outer = team_run("outer", 1, [inner, a])
    db.save_run(outer)

    got = db.get_run("outer")
    assert isinstance(got, TeamRunOutput)
    assert ids(got.member_responses) == ["a", "inner"]
    got_inner = got.member_responses[1]
    assert isinstance(got_inner, TeamRunOutput)
    assert got_inner.parent_run_id == "outer"
    assert ids(got_inner.member_responses) == ["b", "c"]
    assert all(m.parent_run_id == "inner" for m in got_inner.member_responses)

    # a deep member saved on its own later (from its actor) shows up inside both teams
    db.save_run(as_member(c, "inner").model_copy(update={"content": "c revised"}))
    again = db.get_run("outer")
    assert again.member_responses[1].member_responses[1].content == "c revised"  # type: ignore[union-attr]
    assert ids(db.get_session_runs("s1")) == ["outer"]
    assert count_rows(db) == 5


def test_unknown_ids(db: BaseDb) -> None:
    assert db.get_run("nope") is None
    assert db.get_session("nope") is None
    assert db.get_session_runs("nope") == []
    assert db.get_history("nope", "agent-1", 3) == []
    assert db.delete_session("nope") is False


# ----- sessions --------------------------------------------------------------------------------------


def test_get_session(db: BaseDb) -> None:
    db.save_run(agent_run("r2", 2))
    db.save_run(agent_run("r1", 1))
    db.save_run(team_run("t1", 1, [agent_run("m1", 1.5)], session_id="s2"))

    record = db.get_session("s1")
    assert isinstance(record, SessionRecord)
    assert (record.session_type, record.component_id, record.user_id) == ("agent", "agent-1", "u1")
    assert record.created_at <= record.updated_at
    assert ids(record.runs) == ["r1", "r2"]

    team_session = db.get_session("s2")
    assert team_session is not None
    assert (team_session.session_type, team_session.component_id) == ("team", "team-1")
    assert ids(team_session.runs[0].member_responses) == ["m1"]  # type: ignore[union-attr]


def test_member_runs_alone_make_no_session(db: BaseDb) -> None:
    db.save_run(agent_run("m1", 1, session_id="s9", parent_run_id="t-not-yet-saved"))
    assert db.get_session("s9") is None
    assert db.get_session_runs("s9") == []
    db.save_run(team_run("t-not-yet-saved", 0, [], session_id="s9"))
    record = db.get_session("s9")
    assert record is not None and record.session_type == "team"
    assert ids(record.runs[0].member_responses) == ["m1"]  # type: ignore[union-attr]


def test_get_sessions_filters_and_order(db: BaseDb) -> None:
    db.save_run(agent_run("r-a", 1, session_id="s-a", agent_id="a1", user_id="u1"))
    db.save_run(agent_run("r-b", 2, session_id="s-b", agent_id="a2", user_id="u2"))
    db.save_run(team_run("r-t", 3, [], session_id="s-t", user_id="u1"))
    time.sleep(0.01)
    db.save_run(agent_run("r-a2", 4, session_id="s-a", agent_id="a1", user_id="u1"))  # s-a is newest now

    def names(records: list[SessionRecord]) -> list[str]:
        return [r.session_id for r in records]

    everything = db.get_sessions()
    assert names(everything) == ["s-a", "s-t", "s-b"]
    assert all(r.runs == [] for r in everything)
    assert names(db.get_sessions(session_type="team")) == ["s-t"]
    assert names(db.get_sessions(session_type="agent")) == ["s-a", "s-b"]
    assert names(db.get_sessions(component_id="a2")) == ["s-b"]
    assert names(db.get_sessions(user_id="u1")) == ["s-a", "s-t"]
    assert names(db.get_sessions(session_type="agent", user_id="u1")) == ["s-a"]
    assert names(db.get_sessions(limit=1)) == ["s-a"]
    assert db.get_sessions(user_id="nobody") == []


def test_get_session_runs_are_top_level_in_start_order(db: BaseDb) -> None:
    for i in (3, 1, 4, 2):
        db.save_run(agent_run(f"r{i}", i))
    db.save_run(agent_run("member", 2.5, parent_run_id="r2"))
    db.save_run(agent_run("elsewhere", 0, session_id="s2"))
    assert ids(db.get_session_runs("s1")) == ["r1", "r2", "r3", "r4"]


def test_delete_session(db: BaseDb) -> None:
    db.save_run(team_run("t1", 1, [agent_run("m1", 2), team_run("inner", 3, [agent_run("m2", 4)])]))
    db.save_run(agent_run("r1", 5))
    db.save_run(agent_run("keep", 1, session_id="s2"))

    assert db.delete_session("s1") is True
    for run_id in ("t1", "m1", "inner", "m2", "r1"):
        assert db.get_run(run_id) is None
    assert db.get_session("s1") is None
    assert db.get_session_runs("s1") == []
    assert ids(db.get_session_runs("s2")) == ["keep"]
    assert [s.session_id for s in db.get_sessions()] == ["s2"]
    assert db.delete_session("s1") is False


def test_get_history_returns_last_completed_runs_oldest_first(db: BaseDb) -> None:
    statuses = [
        RunStatus.completed,  # h1
        RunStatus.error,  # h2
        RunStatus.completed,  # h3
        RunStatus.cancelled,  # h4
        RunStatus.completed,  # h5
        RunStatus.completed,  # h6
        RunStatus.running,  # h7
    ]
    for i, status in enumerate(statuses, start=1):
        db.save_run(agent_run(f"h{i}", i, status=status))
    db.save_run(agent_run("other-agent", 6.5, agent_id="agent-2"))
    db.save_run(agent_run("member", 6.6, parent_run_id="h6"))
    db.save_run(agent_run("other-session", 6.7, session_id="s2"))

    assert ids(db.get_history("s1", "agent-1", 2)) == ["h5", "h6"]
    assert ids(db.get_history("s1", "agent-1", 3)) == ["h3", "h5", "h6"]
    assert ids(db.get_history("s1", "agent-1", 100)) == ["h1", "h3", "h5", "h6"]
    assert db.get_history("s1", "agent-1", 0) == []
    assert ids(db.get_history("s1", "agent-2", 5)) == ["other-agent"]

    db.save_run(agent_run("h7", 7, status=RunStatus.completed))
    assert ids(db.get_history("s1", "agent-1", 2)) == ["h6", "h7"]


def test_get_history_of_a_team_includes_members(db: BaseDb) -> None:
    db.save_run(team_run("t1", 1, [agent_run("m1", 1.1)]))
    db.save_run(team_run("t2", 2, [agent_run("m2", 2.1)], status=RunStatus.error))
    db.save_run(team_run("t3", 3, [agent_run("m3", 3.1)]))
    history = db.get_history("s1", "team-1", 5)
    assert ids(history) == ["t1", "t3"]
    assert [ids(t.member_responses) for t in history] == [["m1"], ["m3"]]  # type: ignore[union-attr]

"""What the `/sessions` routes ask of a database, on SQLite and PostgreSQL: pages of sessions sorted,
counted and searched by name in SQL, their token usage and first run, a session's runs as one flat list
filtered by time and status, creating an empty session, and deleting several at once."""

from __future__ import annotations

import pytest

from kern.db import BaseDb, SessionRecord
from kern.messages import Message
from kern.run.base import Metrics, RunStatus
from kern.run.team import TeamRunOutput
from tests.db.test_db_store import T0, agent_run, ids, team_run


def names(records: list[SessionRecord]) -> list[str]:
    return [r.session_id for r in records]


def five_sessions(db: BaseDb) -> None:
    """s1..s5 started at T0+1..T0+5; s2 and s4 are team sessions; s3 has no user."""
    for n in range(1, 6):
        user = None if n == 3 else f"u{n % 2}"
        if n % 2 == 0:
            db.save_run(team_run(f"r{n}", n, [], session_id=f"s{n}", team_id=f"team-{6 - n}", user_id=user))
        else:
            db.save_run(agent_run(f"r{n}", n, session_id=f"s{n}", agent_id=f"agent-{6 - n}", user_id=user))


def test_pages_are_sorted_and_cut_by_the_database(db: BaseDb) -> None:
    five_sessions(db)
    assert names(db.get_sessions(sort_by="created_at", sort_order="desc")) == ["s5", "s4", "s3", "s2", "s1"]
    assert names(db.get_sessions(sort_by="created_at", sort_order="asc")) == ["s1", "s2", "s3", "s4", "s5"]
    pages = [db.get_sessions(limit=2, page=p, sort_by="created_at", sort_order="asc") for p in (1, 2, 3, 4)]
    assert [names(p) for p in pages] == [["s1", "s2"], ["s3", "s4"], ["s5"], []]
    assert db.count_sessions() == 5

    assert names(db.get_sessions(sort_by="session_id", sort_order="desc")) == ["s5", "s4", "s3", "s2", "s1"]
    # Agno's agent_id / team_id: the sessions of the other type (NULL there) come last, either way.
    assert names(db.get_sessions(sort_by="agent_id", sort_order="asc")) == ["s5", "s3", "s1", "s2", "s4"]
    assert names(db.get_sessions(sort_by="team_id", sort_order="desc")) == ["s2", "s4", "s5", "s3", "s1"]
    # NULLs last, then the session id breaks ties in the same order.
    assert names(db.get_sessions(sort_by="user_id", sort_order="asc")) == ["s2", "s4", "s1", "s5", "s3"]
    assert names(db.get_sessions(sort_by="user_id", sort_order="desc")) == ["s5", "s1", "s4", "s2", "s3"]
    with pytest.raises(ValueError, match="at least 1"):
        db.get_sessions(page=0)


def test_filters_apply_to_the_page_and_the_count_alike(db: BaseDb) -> None:
    five_sessions(db)
    cases: list[dict[str, str]] = [
        {"session_type": "team"},
        {"component_id": "agent-1"},
        {"user_id": "u1"},
        {"session_type": "agent", "user_id": "u1"},
        {"user_id": "nobody"},
    ]
    expected = [["s2", "s4"], ["s5"], ["s1", "s5"], ["s1", "s5"], []]
    for filters, sessions in zip(cases, expected, strict=True):
        found = db.get_sessions(**filters, sort_by="created_at", sort_order="asc")  # type: ignore[arg-type]
        assert names(found) == sessions, filters
        assert db.count_sessions(**filters) == len(sessions), filters  # type: ignore[arg-type]
    assert names(db.get_sessions(user_id="u1", limit=1, sort_by="created_at", sort_order="asc")) == ["s1"]
    assert db.count_sessions(user_id="u1") == 2


def test_session_name_matches_part_of_the_name_set_in_any_case(db: BaseDb) -> None:
    five_sessions(db)
    db.update_session("s1", session_name="Trip to Oslo")
    db.update_session("s2", session_name="oslo BUDGET 100%")
    db.update_session("s3", session_name="Groceries")
    assert names(db.get_sessions(session_name="OSLO", sort_by="session_id", sort_order="asc")) == ["s1", "s2"]
    assert db.count_sessions(session_name="oslo") == 2
    assert names(db.get_sessions(session_name="0%")) == ["s2"]  # % and _ are plain characters
    assert db.get_sessions(session_name="_") == [] and db.count_sessions(session_name="%") == 1
    assert names(db.get_sessions(session_name="GROC", session_type="agent")) == ["s3"]
    assert db.get_sessions(session_name="GROC", session_type="team") == []
    # A session with no name set never matches (not even its first message).
    assert db.get_sessions(session_name="question") == []


def test_the_list_gives_each_sessions_token_usage_and_first_run(db: BaseDb) -> None:
    usage = {"input_tokens": 3, "output_tokens": 5, "total_tokens": 8}
    first = agent_run("r1", 1, messages=[Message(role="user", content="Hello")], metrics=Metrics(**usage))
    db.save_run(first)
    db.save_run(agent_run("r2", 2, metrics=Metrics(input_tokens=1, output_tokens=1, total_tokens=2)))
    member = agent_run("m1", 3.5, session_id="s2", metrics=Metrics(input_tokens=10, total_tokens=10))
    db.save_run(
        team_run("t1", 3, [member], session_id="s2", metrics=Metrics(output_tokens=4, total_tokens=4))
    )
    db.create_session("empty", "agent", "agent-1")
    db.create_session("named", "agent", "agent-1", session_name="Named")
    db.save_run(agent_run("n1", 4, session_id="named"))

    listed = {r.session_id: r for r in db.get_sessions()}
    assert listed["s1"].usage is not None and listed["s1"].usage.model_dump() == {
        "input_tokens": 4, "output_tokens": 6, "total_tokens": 10,
    }  # fmt: skip
    assert listed["s2"].usage is not None and listed["s2"].usage.model_dump() == {
        "input_tokens": 10, "output_tokens": 4, "total_tokens": 14,
    }  # fmt: skip
    assert listed["empty"].usage is None and listed["empty"].first_run is None
    assert listed["named"].first_run is None, "a named session needs no first run"

    assert listed["s1"].first_run is not None and listed["s1"].first_run.run_id == "r1"
    assert listed["s1"].first_run.messages == first.messages
    team_first = listed["s2"].first_run
    assert isinstance(team_first, TeamRunOutput) and (team_first.run_id, team_first.member_responses) == (
        "t1",
        [],
    )
    assert all(r.runs == [] for r in listed.values())

    detail = db.get_session("s2")
    assert detail is not None and detail.usage == listed["s2"].usage and detail.first_run is None
    alone = db.get_session("s2", with_runs=False)
    assert alone is not None and (alone.runs, alone.usage) == ([], None)
    assert alone.model_dump(exclude={"runs", "usage"}) == detail.model_dump(exclude={"runs", "usage"})


def test_list_runs_is_every_run_flat_in_start_order(db: BaseDb) -> None:
    inner = team_run("inner", 3, [agent_run("m2", 4)])
    db.save_run(team_run("t1", 1, [agent_run("m1", 2, status=RunStatus.error), inner]))
    db.save_run(agent_run("r1", 5, status=RunStatus.running))
    db.save_run(agent_run("elsewhere", 1, session_id="s2"))

    runs = db.list_runs("s1")
    assert ids(runs) == ["t1", "m1", "inner", "m2", "r1"]
    assert [r.parent_run_id for r in runs] == [None, "t1", "t1", "inner", None]
    assert all(r.member_responses == [] for r in runs if isinstance(r, TeamRunOutput))
    assert db.list_runs("nope") == []


def test_list_runs_filters_by_whole_seconds_and_status(db: BaseDb) -> None:
    for run_id, at, status in (("a", 10.0, "COMPLETED"), ("b", 10.9, "ERROR"), ("c", 11.5, "COMPLETED")):
        db.save_run(agent_run(run_id, at, status=status))
    second = int(T0) + 10
    assert ids(db.list_runs("s1", created_after=second + 1)) == ["c"]
    assert ids(db.list_runs("s1", created_after=second)) == ["a", "b", "c"]
    assert ids(db.list_runs("s1", created_before=second)) == ["a", "b"], "10.9 is in second 10"
    assert ids(db.list_runs("s1", created_before=second - 1)) == []
    assert ids(db.list_runs("s1", created_after=second, created_before=second)) == ["a", "b"]
    assert ids(db.list_runs("s1", statuses=["COMPLETED"])) == ["a", "c"]
    assert ids(db.list_runs("s1", statuses=["ERROR", "CANCELLED"], created_after=second)) == ["b"]
    assert db.list_runs("s1", statuses=[]) == []


def test_create_session_makes_an_empty_one_once(db: BaseDb) -> None:
    assert db.create_session("s1", "team", "team-1", "u1", session_name="Plans", session_state={"a": 1})
    record = db.get_session("s1")
    assert record is not None
    assert (record.session_type, record.component_id, record.user_id) == ("team", "team-1", "u1")
    assert (record.session_name, record.session_state, record.runs, record.usage) == (
        "Plans", {"a": 1}, [], None,
    )  # fmt: skip

    assert db.create_session("s1", "agent", "agent-9", "u2", session_name="Other") is False
    again = db.get_session("s1")
    assert again is not None and again.model_dump() == record.model_dump(), "a taken id changes nothing"


def test_a_session_created_without_a_component_takes_its_first_runs(db: BaseDb) -> None:
    assert db.create_session("s1", "agent", user_id="u1", session_state={"kept": True})
    unclaimed = db.get_session("s1")
    assert unclaimed is not None and unclaimed.component_id == ""
    db.save_run(team_run("t1", 1, []))
    db.save_run(agent_run("r2", 2))  # a later run does not change it again
    record = db.get_session("s1")
    assert record is not None
    assert (record.session_type, record.component_id, record.session_state) == (
        "team",
        "team-1",
        {"kept": True},
    )

    db.create_session("s2", "agent", "agent-1")
    db.save_run(team_run("t2", 1, [], session_id="s2"))
    claimed = db.get_session("s2")
    assert claimed is not None and (claimed.session_type, claimed.component_id) == ("agent", "agent-1")


def test_delete_sessions_removes_those_there_with_all_their_runs(db: BaseDb) -> None:
    db.save_run(team_run("t1", 1, [agent_run("m1", 2), team_run("inner", 3, [agent_run("m2", 4)])]))
    db.save_run(agent_run("r2", 1, session_id="s2", user_id="u2"))
    db.save_run(agent_run("r3", 1, session_id="s3"))
    db.save_run(agent_run("early-member", 1, session_id="s4", parent_run_id="team-not-saved-yet"))
    db.create_session("s5", "agent", "agent-1", "u1")

    assert db.delete_sessions(["s1", "s2", "nope", "s1"], user_id="u1") == 1, "s2 is u2's"
    for run_id in ("t1", "m1", "inner", "m2"):
        assert db.get_run(run_id) is None
    assert db.get_session("s1") is None and db.get_run("r2") is not None

    assert db.delete_sessions(["s4"], user_id="u1") == 0, "no session row says s4 is u1's"
    assert db.delete_sessions(["s2", "s3", "s4", "s5"]) == 4
    assert db.get_run("early-member") is None and db.get_run("r3") is None
    assert db.get_sessions() == [] and db.count_sessions() == 0
    assert db.delete_sessions(["s2"]) == 0 and db.delete_session("s2") is False

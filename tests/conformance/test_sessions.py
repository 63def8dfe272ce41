"""Reading a session back from the agent object, on Agno 3.1.10 (its InMemoryDb) and on kern (SQLite):
the same messages, runs and answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kern.model_server import ModelServer
from tests.conformance.frameworks import Framework, agno, kern


def agno_db(_: Path) -> Any:
    from agno.db.in_memory import InMemoryDb

    return InMemoryDb()


def kern_db(folder: Path) -> Any:
    from kern.db import SqliteDb

    return SqliteDb(db_file=str(folder / "kern.db"))


def script(fw: Framework, db: Any, server: ModelServer, history: bool) -> dict[str, Any]:
    model = fw.model(server, reply_words=4)
    writer = fw.Agent(name="Writer", id="example", model=model, db=db, add_history_to_context=history)
    first, second = writer.run("One"), writer.run("Two")
    session = writer.get_session()
    seen = {
        "chat": [(m.role, m.content) for m in writer.get_chat_history()],
        "messages": [(m.role, m.content) for m in writer.get_session_messages()],
        "last is second": writer.get_last_run_output().run_id == second.run_id,
        "first by id": writer.get_run_output(first.run_id).content,
        "session runs": len(session.runs),
        "same session": session.session_id == writer.session_id,
    }
    writer.delete_session(writer.session_id)
    seen["after delete"] = writer.get_session()
    return seen


def test_a_session_reads_back_as_on_agno(ray_session: None, server: ModelServer, tmp_path: Path) -> None:
    for history in (False, True):
        expected = script(agno(), agno_db(tmp_path), server, history)
        assert expected["chat"]
        assert script(kern(), kern_db(tmp_path / str(history)), server, history) == expected, history


@pytest.mark.parametrize("options", [{"num_history_runs": 1}, {"num_history_messages": 3}])
def test_history_sent_to_the_model_is_agnos(
    ray_session: None, server: ModelServer, tmp_path: Path, options: dict[str, Any]
) -> None:
    def sent(fw: Framework, db: Any) -> list[tuple[str, str]]:
        server.clear_requests()
        model = fw.model(server, reply_words=2)
        writer = fw.Agent(
            name="Writer", id="example", model=model, db=db, add_history_to_context=True, **options
        )
        for text in ("One", "Two", "Three"):
            writer.run(text)
        items = server.requests[-1].body["input"]
        return [(i["role"], str(i["content"])) for i in items if i.get("role") in ("user", "assistant")]

    expected = sent(agno(), agno_db(tmp_path))
    assert len(expected) > 1
    assert sent(kern(), kern_db(tmp_path)) == expected


def test_read_chat_history_gives_the_model_the_sessions_messages(
    ray_session: None, server: ModelServer, tmp_path: Path
) -> None:
    def script(fw: Framework, db: Any) -> tuple[Any, ...]:
        server.clear_requests()
        model = fw.model(server, reply_words=2)
        writer = fw.Agent(name="Writer", id="example", model=model, db=db, read_chat_history=True)
        writer.run("One")
        second = writer.run("Two")
        tools = [t["name"] for t in server.requests[0].body.get("tools", [])]
        result = json.loads(second.tools[0].result)
        return tools, [(m["role"], m.get("content")) for m in result if m["role"] in ("user", "assistant")]

    expected = script(agno(), agno_db(tmp_path))
    assert expected[0] == ["get_chat_history"] and expected[1]
    assert script(kern(), kern_db(tmp_path)) == expected


def test_a_new_session_starts_with_the_introduction(
    ray_session: None, server: ModelServer, tmp_path: Path
) -> None:
    def script(fw: Framework, db: Any) -> tuple[Any, ...]:
        server.clear_requests()
        model = fw.model(server, reply_words=2)
        writer = fw.Agent(
            name="Writer", id="example", model=model, db=db, add_history_to_context=True,
            introduction="Hello, I write stories.",
        )  # fmt: skip
        writer.run("One")
        writer.run("Two")
        items = server.requests[-1].body["input"]
        sent = [(i["role"], str(i["content"])) for i in items if i.get("role") in ("user", "assistant")]
        chat = [(m.role, m.content) for m in writer.get_chat_history()]
        return sent, chat, len(writer.get_session().runs)

    expected = script(agno(), agno_db(tmp_path))
    assert ("assistant", "Hello, I write stories.") in expected[1]
    assert script(kern(), kern_db(tmp_path)) == expected

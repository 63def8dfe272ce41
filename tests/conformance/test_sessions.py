"""Reading a session back from the agent object, on Agno 3.1.10 (its InMemoryDb) and on kern (SQLite):
the same messages, runs and answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

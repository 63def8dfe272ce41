"""The supervisor's tables stay bounded, whatever callers send it (its class, in-process: no Ray)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from actors import supervisor as module
from actors.owners import RunOwner
from actors.runtime import NAMESPACE
from kern.specs import MAX_RUN_ID_CHARS, RunRequest, new_id


async def test_a_flood_of_cancels_of_unknown_ids_keeps_the_supervisor_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "REMEMBERED", 1_000)
    supervisor = module.Supervisor.__ray_actor_class__(NAMESPACE)  # (it sets the process's namespace)
    for _ in range(5_000):
        assert await supervisor.cancel(new_id()) is False
        await supervisor.expect(new_id(), RunOwner("agent", "writer", new_id()))
    sizes = supervisor.sizes()
    assert sizes["pre_cancelled"] == 1_000 and sizes["pending"] == 1_000, sizes
    assert sizes["sessions_tracked"] == 1_000, sizes
    # The newest are the ones kept: a run cancelled just before it starts still never starts.
    early = new_id()
    await supervisor.cancel(early)
    assert await supervisor.register(object(), [(early, None)]) == [False]


async def test_cancels_of_ids_no_run_can_have_are_not_remembered() -> None:
    supervisor = module.Supervisor.__ray_actor_class__(NAMESPACE)
    for _ in range(100):
        assert await supervisor.cancel("x" * 60_000 + new_id()) is False
    assert supervisor.sizes()["pre_cancelled"] == 0
    with pytest.raises(ValidationError, match="256 characters"):
        RunRequest(input="hi", run_id="x" * (MAX_RUN_ID_CHARS + 1))

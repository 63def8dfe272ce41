"""The supervisor's tables stay bounded, whatever callers send it (its class, in-process: no Ray)."""

from __future__ import annotations

import pytest

from actors import supervisor as module
from actors.runtime import NAMESPACE
from kern.specs import new_id


async def test_a_flood_of_cancels_of_unknown_ids_keeps_the_supervisor_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "REMEMBERED", 1_000)
    supervisor = module.Supervisor.__ray_actor_class__(NAMESPACE)  # (it sets the process's namespace)
    for _ in range(5_000):
        assert await supervisor.cancel(new_id()) is False
        await supervisor.expect(new_id())
    sizes = supervisor.sizes()
    assert sizes["pre_cancelled"] == 1_000 and sizes["pending"] == 1_000, sizes
    # The newest are the ones kept: a run cancelled just before it starts still never starts.
    early = new_id()
    await supervisor.cancel(early)
    assert await supervisor.register(object(), [(early, None)]) == [False]

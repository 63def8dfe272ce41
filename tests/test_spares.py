"""Spare workers (`actors.spares`): the keeper asks a node for exactly the spares it lacks, counting those
still starting, and asks again for those that never came (the end-to-end check is in
tests/test_local_cluster.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from actors import spares
from actors.spares import SPARES_VARIABLE, STARTING_SECONDS, SpareKeeper, spares_wanted


@dataclass
class FakeRaylet:
    idle: set[int] = field(default_factory=set)
    """Pids of its never-used workers."""
    asked: list[int] = field(default_factory=list)
    """How many workers each PrestartWorkers asked for."""


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> FakeRaylet:
    monkeypatch.setattr(SpareKeeper, "_spares", staticmethod(lambda raylet: frozenset(raylet.idle)))
    monkeypatch.setattr(
        SpareKeeper, "_prestart", staticmethod(lambda raylet, count: raylet.asked.append(count))
    )
    return FakeRaylet()


def test_spares_taken_are_replaced_at_once_and_none_is_asked_for_twice(node: FakeRaylet) -> None:
    keeper = SpareKeeper(2)
    keeper._tend_node("n", node, now=0.0)
    assert node.asked == [2]
    keeper._tend_node("n", node, now=2.0)
    assert node.asked == [2], "both are still starting"
    node.idle = {11}
    keeper._tend_node("n", node, now=4.0)
    assert node.asked == [2], "one came, the other is still starting"
    node.idle = set()  # an actor took the one that came
    keeper._tend_node("n", node, now=6.0)
    assert node.asked == [2, 1], "the taken one is replaced at once; the one still starting is counted"
    node.idle = {12, 13}
    keeper._tend_node("n", node, now=8.0)
    assert node.asked == [2, 1]


def test_spares_that_never_come_are_asked_for_again(node: FakeRaylet) -> None:
    keeper = SpareKeeper(2)
    keeper._tend_node("n", node, now=0.0)
    keeper._tend_node("n", node, now=STARTING_SECONDS - 1)
    assert node.asked == [2]
    keeper._tend_node("n", node, now=STARTING_SECONDS + 1)
    assert node.asked == [2, 2]


def test_spares_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPARES_VARIABLE, raising=False)
    assert spares_wanted() == 0 and spares.keep_spares() is None
    monkeypatch.setenv(SPARES_VARIABLE, "2")
    assert spares_wanted() == 2
    monkeypatch.setenv(SPARES_VARIABLE, "many")
    assert spares_wanted() == 0

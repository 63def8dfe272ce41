"""The rows of the failures issue that the engine answers for, one deterministic scenario each."""

from __future__ import annotations

import asyncio

from kern.engine.gather import gather_all
from kern.models.scripted import Call, Stall, Text, Wait, delegate, delegate_to_all
from kern.run.base import RunStatus
from kern.run.events import is_terminal
from tests.engine.checks import check_all
from tests.engine.play import Outcome, play
from tests.engine.scenarios import CANCEL_CUE, Blueprint, CancelPlan, Fault, Scenario
from tests.support import names


def writer(name: str, *steps: Text | Stall) -> Blueprint:
    return Blueprint(name, [[Text(text=f"{name} writes "), *steps]])


def ends(outcome: Outcome) -> dict[str, str]:
    """Each run's terminal event by the run's agent or team id."""
    return {
        getattr(event, "agent_id", "") or getattr(event, "team_id", ""): event.event.value
        for event in outcome.events
        if is_terminal(event)
    }


def test_a_cancelled_broadcast_team_ends_after_every_members_cancel() -> None:
    """Row "Broadcast team cancelled": the first member's cancel no longer ends the team before the
    others' (a team member's takes longer)."""
    nested = Blueprint(
        "desk", [[delegate("a3", "x")], [Text(text="done")]], [writer("a3", Stall())], "coordinate"
    )
    members = [writer("a1", Text(text="on", after=CANCEL_CUE), Stall()), writer("a2", Stall()), nested]
    team = Blueprint("t0", [[delegate_to_all("Write")], [Text(text="All done.")]], members, "broadcast")
    outcome = play(Scenario(team, {}, CancelPlan("cue")))
    check_all(outcome)
    assert ends(outcome) == {
        "a1": "RunCancelled", "a2": "RunCancelled", "a3": "RunCancelled", "desk": "TeamRunCancelled",
        "t0": "TeamRunCancelled",
    }  # fmt: skip


def test_parallel_tool_calls_end_before_a_cancelled_run() -> None:
    """Parallel tool calls had the same shape: a tool that ends late no longer reports after the run."""
    calls = [
        Call(name="lookup", arguments={"query": "fast", "hold": CANCEL_CUE}),
        Call(name="lookup", arguments={"query": "slow", "hold": CANCEL_CUE, "stubborn": True, "tidy": 3}),
    ]
    agent = Blueprint("a0", [calls, [Text(text="done")]])
    outcome = play(Scenario(agent, {}, CancelPlan("cue")))
    check_all(outcome)
    assert names(outcome.events)[-2:] == ["ToolCallCompleted", "RunCancelled"]


def test_a_member_whose_actor_dies_ends_with_a_stand_in_error() -> None:
    """Row "Member's actor dies": the member's run gets a RunError in the team's stream; the team goes on."""
    team = Blueprint("t0", [[delegate("a1", "x")], [Text(text="Without a1.")]], [writer("a1")], "coordinate")
    outcome = play(Scenario(team, {"a1": Fault("break", at=2)}, CancelPlan("never")))
    check_all(outcome)
    error = next(e for e in outcome.events if is_terminal(e) and e.run_id != outcome.run_id)
    assert error.event.value == "RunError" and error.error_type == "MemberLost"
    assert "the member's stream broke: LinkBroken" in error.content
    assert ends(outcome) == {"a1": "RunError", "t0": "TeamRunCompleted"}


def test_a_member_that_goes_silent_ends_with_a_stand_in_error() -> None:
    team = Blueprint("t0", [[delegate("a1", "x")], [Text(text="Without a1.")]], [writer("a1")], "coordinate")
    outcome = play(Scenario(team, {"a1": Fault("silent", at=1)}, CancelPlan("never")))
    check_all(outcome)
    error = next(e for e in outcome.events if is_terminal(e) and e.run_id != outcome.run_id)
    assert error.error_type == "MemberSilent" and "went silent" in error.content


def test_a_member_that_does_not_answer_the_cancel_gets_a_stand_in_cancel() -> None:
    """A hung member (and its own members) end cancelled in the team's stream once the drain is over."""
    inner = Blueprint(
        "desk", [[delegate("a2", "x")], [Text(text="done")]], [writer("a2", Stall())], "coordinate"
    )
    team = Blueprint(
        "t0", [[delegate("desk", "x"), Call(name="lookup", arguments={"query": "q", "hold": CANCEL_CUE})]],
        [inner], "coordinate",
    )  # fmt: skip
    outcome = play(Scenario(team, {"desk": Fault("deaf", at=6)}, CancelPlan("cue")))
    check_all(outcome)
    assert ends(outcome) == {"a2": "RunCancelled", "desk": "TeamRunCancelled", "t0": "TeamRunCancelled"}
    stand_in = next(e for e in outcome.events if getattr(e, "team_id", "") == "desk" and is_terminal(e))
    assert stand_in.reason == "DESK did not answer the cancel within 0.02 s"


def test_a_cancel_at_the_leaders_last_token_ends_the_run_cancelled() -> None:
    """Row "Cancel near the end of the leader's answer": True means cancelled, even if the model adapter
    swallows the cancel and returns its reply as if it had finished."""
    last = Wait(after=CANCEL_CUE, swallows_cancel=True)
    team = Blueprint(
        "t0", [[delegate("a1", "x")], [Text(text="The answer "), Text(text="is 42."), last]],
        [writer("a1")], "coordinate",
    )  # fmt: skip
    outcome = play(Scenario(team, {}, CancelPlan("cue")))
    check_all(outcome)
    assert outcome.answers == [(outcome.run_id, True)]
    assert outcome.records[outcome.run_id].status is RunStatus.cancelled
    assert outcome.events[-1].content == "The answer is 42."


def test_gather_all_passes_a_cancel_to_every_step_and_waits_for_all() -> None:
    async def main() -> list[str]:
        ended: list[str] = []

        async def step(name: str, cleanup_ticks: int) -> str:
            try:
                await asyncio.get_running_loop().create_future()
            finally:
                for _ in range(cleanup_ticks):
                    await asyncio.sleep(0)
                ended.append(name)
            return name

        gathering = asyncio.create_task(gather_all(step("quick", 0), step("slow", 5)))
        await asyncio.sleep(0)
        gathering.cancel()
        try:
            await gathering
        except asyncio.CancelledError:
            ended.append("gather")
        return ended

    assert asyncio.run(main()) == ["quick", "slow", "gather"]

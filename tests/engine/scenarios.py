"""Random agents and teams on the scripted model, random failures and a random cancel instant."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from hypothesis import strategies as st

from kern.models.scripted import Call, Fail, ScriptedModel, Stall, Text, Wait, cue, delegate, delegate_to_all
from kern.specs import AgentSpec, TeamSpec
from kern.tools import Function

CANCEL_CUE = "cancel-here"
"""Where a cue plan's cancel happens: the one step (or tool call) of the scenario held at this cue."""

Mode = Literal["coordinate", "route", "broadcast"]
MODES: tuple[Mode, ...] = ("coordinate", "route", "broadcast")
Step = Text | Call | Wait | Stall | Fail


async def lookup(query: str, hold: str = "", stubborn: bool = False, tidy: int = 0) -> str:
    """Look something up.

    Args:
        query: What to look up.
        hold: A cue to wait at (the test's cancel instant).
        stubborn: Swallow a cancel and return anyway, as a careless tool does.
        tidy: Event-loop turns the tool takes to tidy up when cancelled.
    """
    try:
        if hold:
            await cue(hold).hold()
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        for _ in range(tidy):
            await asyncio.sleep(0)
        if not stubborn:
            raise
        return f"interrupted looking up {query}"
    return f"found {query}"


LOOKUP = Function.from_callable(lookup)


@dataclass
class Blueprint:
    """An agent or team before it is built: its scripts can still be edited."""

    id: str
    replies: list[list[Step]]
    members: list[Blueprint] = field(default_factory=list)
    mode: Mode | None = None
    stream_member_events: bool = True

    def walk(self) -> Iterator[Blueprint]:
        """This component and every one below it."""
        yield self
        for member in self.members:
            yield from member.walk()

    def spec(self) -> AgentSpec | TeamSpec:
        """The component, built."""
        model = ScriptedModel(id=f"scripted-{self.id}", replies=self.replies)
        if self.mode is None:
            return AgentSpec(id=self.id, name=self.id.upper(), model=model, tools=[LOOKUP])
        return TeamSpec(
            id=self.id,
            name=self.id.upper(),
            model=model,
            tools=[LOOKUP],
            members=[member.spec() for member in self.members],
            respond_directly=self.mode == "route",
            delegate_to_all_members=self.mode == "broadcast",
            stream_member_events=self.stream_member_events,
        )


FaultKind = Literal["break", "silent", "end", "deaf"]


@dataclass(frozen=True)
class Fault:
    """What goes wrong with a member's stream, after `at` of its frames reached the leader.

    break: the link breaks (its actor died); silent: the idle timeout fires; end: the stream ends with no
    terminal event; deaf: the member's node hangs: no more frames, cancels unanswered, then the timeout.
    """

    kind: FaultKind
    at: int


@dataclass(frozen=True)
class CancelPlan:
    """When the test cancels. cue: at the step held at `CANCEL_CUE`, `ticks` event-loop turns after it
    (0: while it is held), the top run or, with `member`, the newest run in flight; event: when the
    consumer has seen `event` events, the top run or, with `member`, the run of that event; start:
    before the run's task begins; after: once everything ended."""

    when: Literal["never", "start", "cue", "event", "after"]
    ticks: int = 0
    event: int = 0
    member: bool = False


@dataclass
class Scenario:
    """One run to play: the component, its members' stream faults, and the cancel."""

    top: Blueprint
    faults: dict[str, Fault]
    plan: CancelPlan


@st.composite
def scenarios(
    draw: st.DrawFn,
    *,
    top: Literal["agent", "team", "any"] = "any",
    depth: int = 2,
    modes: tuple[Mode, ...] = MODES,
    failures: bool = True,
    faults: tuple[FaultKind, ...] = ("break", "silent", "end", "deaf"),
    fault_odds: int = 4,
    swallows: bool = True,
    plans: tuple[str, ...] = ("never", "start", "cue", "cue", "cue", "event", "event", "after"),
) -> Scenario:
    """A random agent or team (teams nest up to `depth`), with failures (a model error, and one member
    in `fault_odds` with a stream fault among `faults`), and a cancel plan among `plans`."""
    names = iter(range(1000))
    is_team = top == "team" or (top == "any" and draw(st.booleans()))
    root = _team(draw, names, depth, modes) if is_team else _agent(draw, names)
    stream_faults: dict[str, Fault] = {}
    if failures:
        slots = list(_slots(root))
        if draw(st.booleans()):
            blueprint, turn, position = draw(st.sampled_from(slots))
            blueprint.replies[turn].insert(position, Fail(message=f"{blueprint.id} broke"))
        for member in list(root.walk())[1:]:
            if draw(st.integers(1, fault_odds)) == 1:
                stream_faults[member.id] = Fault(draw(st.sampled_from(faults)), draw(st.integers(0, 12)))
    plan = _plan(draw, root, plans, swallows)
    return Scenario(root, stream_faults, plan)


def _agent(draw: st.DrawFn, names: Iterator[int]) -> Blueprint:
    name = f"a{next(names)}"
    texts: list[Step] = [Text(text=f"{name}-{i} ") for i in range(draw(st.integers(1, 3)))]
    calls = draw(st.integers(0, 2))
    if not calls:
        return Blueprint(name, [texts])
    asks: list[Step] = [Call(name="lookup", arguments={"query": f"{name}-{i}"}) for i in range(calls)]
    return Blueprint(name, [[Text(text="Let me look. "), *asks], texts])


def _team(draw: st.DrawFn, names: Iterator[int], depth: int, modes: tuple[Mode, ...]) -> Blueprint:
    name = f"t{next(names)}"
    members = [
        _team(draw, names, depth - 1, modes) if depth > 1 and draw(st.booleans()) else _agent(draw, names)
        for _ in range(draw(st.integers(1, 3)))
    ]
    mode = draw(st.sampled_from(modes))
    first: list[Step] = [Text(text="Planning. ")] if draw(st.booleans()) else []
    if mode == "broadcast":
        first.append(delegate_to_all("the task"))
    else:
        chosen = draw(st.lists(st.integers(0, len(members) - 1), min_size=1, unique=True))
        first += [delegate(members[i].id, "the task") for i in chosen]
    if draw(st.booleans()):
        first.append(Call(name="lookup", arguments={"query": name}))
    replies = (
        [first] if mode == "route" else [first, [Text(text=f"{name} sums up "), Text(text="the answers.")]]
    )
    stream = draw(st.integers(0, 7)) > 0
    return Blueprint(name, replies, members, mode, stream)


def _slots(root: Blueprint) -> Iterator[tuple[Blueprint, int, int]]:
    """Every place a step can go: before each step of each reply, and at each reply's end."""
    for blueprint in root.walk():
        for turn, reply in enumerate(blueprint.replies):
            for position in range(len(reply) + 1):
                yield blueprint, turn, position


def _plan(draw: st.DrawFn, root: Blueprint, plans: tuple[str, ...], swallows: bool) -> CancelPlan:
    when = draw(st.sampled_from(plans))
    if when == "event":
        return CancelPlan("event", event=draw(st.integers(1, 40)), member=draw(st.booleans()))
    if when != "cue":
        return CancelPlan(when)
    ticks = draw(st.sampled_from((0, 0, 1, 2, 3, 5, 8, 13, 30)))
    tool_calls = [
        s for b in root.walk() for r in b.replies for s in r if isinstance(s, Call) and s.name == "lookup"
    ]
    member = draw(st.integers(0, 3)) == 0
    if tool_calls and draw(st.integers(0, 3)) == 0:
        call = draw(st.sampled_from(tool_calls))
        call.arguments.update(
            hold=CANCEL_CUE, stubborn=swallows and draw(st.booleans()), tidy=draw(st.integers(0, 3))
        )
        return CancelPlan("cue", ticks=ticks, member=member)
    blueprint, turn, position = draw(st.sampled_from(list(_slots(root))))
    reply = blueprint.replies[turn]
    how = draw(st.sampled_from(("gate", "stall", "swallow") if swallows else ("gate", "stall")))
    member = member and how != "stall"  # a stall ends only if the top run is cancelled
    if how == "stall":
        reply.insert(position, Stall(after=CANCEL_CUE))
    elif position == len(reply):
        reply.append(Wait(after=CANCEL_CUE, swallows_cancel=how == "swallow"))
    else:
        reply[position] = reply[position].model_copy(
            update={"after": CANCEL_CUE, "swallows_cancel": how == "swallow"}
        )
    return CancelPlan("cue", ticks=ticks, member=member)

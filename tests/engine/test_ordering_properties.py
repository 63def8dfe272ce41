"""Property-based tests of the engine's ordering rules, in process (`LocalLink`, scripted models).

Whatever the shape of the team (coordinate, route, broadcast, nested), wherever the cancel lands (before
the start, during a member's stream or a tool call, at the leader's last token, after the end) and
whatever fails (a model error, a member whose stream breaks, ends, goes silent or hangs): every run in
the stream ends exactly once, members before their team, nothing after the end; a cancel that answered
True ends its run cancelled; records say what the events said.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.engine.checks import check_all
from tests.engine.play import play
from tests.engine.scenarios import Scenario, scenarios

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(scenarios(failures=False, swallows=False))
def test_any_cancel_instant_ends_every_run_once(scenario: Scenario) -> None:
    """Agents and teams of every kind, cancelled at a random instant or not at all."""
    check_all(play(scenario))


@FAST
@given(scenarios(top="team", modes=("broadcast",), failures=False, swallows=False, plans=("cue", "event")))
def test_broadcast_cancel_waits_for_every_member(scenario: Scenario) -> None:
    """A cancelled broadcast team ends after every member's own terminal event."""
    check_all(play(scenario))


@FAST
@given(scenarios(top="team", plans=("never", "cue", "event")))
def test_member_failures_end_every_run_once(scenario: Scenario) -> None:
    """Members whose streams break, end early, go silent or hang, with or without a cancel."""
    check_all(play(scenario))


@FAST
@given(scenarios(top="team", faults=("deaf",), fault_odds=2, plans=("cue",)))
def test_hung_members_end_in_the_stream_before_their_team(scenario: Scenario) -> None:
    """Members that hang (no frames, cancels unanswered) get their leader's stand-in terminal events."""
    check_all(play(scenario))


@FAST
@given(scenarios(failures=False, plans=("cue",)))
def test_cancel_answer_is_exact(scenario: Scenario) -> None:
    """A cancel that answers True ends the run cancelled, even if a model or tool swallows it."""
    check_all(play(scenario))

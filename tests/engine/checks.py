"""The engine's ordering rules, each checked on a played scenario's events and records."""

from __future__ import annotations

from kern.run.base import BaseRunEvent, RunStatus
from kern.run.events import is_terminal
from kern.run.team import TeamRunOutput
from tests.engine.play import Outcome
from tests.support import names


def terminals(events: list[BaseRunEvent]) -> dict[str, list[int]]:
    """Positions of each run's terminal events in the stream (every run in it, none left out)."""
    found: dict[str, list[int]] = {event.run_id: [] for event in events}
    for index, event in enumerate(events):
        if is_terminal(event):
            found[event.run_id].append(index)
    return found


def status_of(event: BaseRunEvent) -> RunStatus:
    """The status a terminal event reports."""
    status = getattr(event, "status", None)
    assert isinstance(status, RunStatus), f"{event} is not a terminal event"
    return status


def check_one_terminal_per_run(outcome: Outcome) -> None:
    """Every run in the stream has exactly one terminal event, and the stream ends with the top run's."""
    events = outcome.events
    for run_id, positions in terminals(events).items():
        assert len(positions) == 1, f"run {run_id} has {len(positions)} terminal events: {names(events)}"
    assert events and events[-1].run_id == outcome.run_id and is_terminal(events[-1]), (
        f"the stream must end with the run's terminal event: {names(events)}"
    )


def check_nothing_after_terminal(outcome: Outcome) -> None:
    """No event of a run comes after its terminal event, and each run starts with its RunStarted."""
    events = outcome.events
    ended: set[str] = set()
    started: set[str] = set()
    for event in events:
        assert event.run_id not in ended, (
            f"{event.event} of run {event.run_id} after its end: {names(events)}"
        )
        if event.run_id not in started:
            assert event.event.value.endswith("RunStarted"), (
                f"run {event.run_id} does not start with RunStarted"
            )
            started.add(event.run_id)
        if is_terminal(event):
            ended.add(event.run_id)


def check_members_before_team(outcome: Outcome) -> None:
    """A member run's terminal event comes before its team run's terminal event."""
    events = outcome.events
    ends = {run_id: positions[0] for run_id, positions in terminals(events).items() if positions}
    for event in events:
        parent = event.parent_run_id
        if parent in ends and event.run_id in ends:
            assert ends[event.run_id] < ends[parent], (
                f"member run {event.run_id} ends after its team run {parent}: {names(events)}"
            )


def check_cancel_answers(outcome: Outcome) -> None:
    """A cancel that answered True ends that run cancelled; after everything ended, cancels answer False."""
    final = _final_statuses(outcome)
    for run_id, answer in outcome.answers:
        if outcome.scenario.plan.when == "after":
            assert not answer, f"cancel of the finished run {run_id} answered True"
        if not answer:
            continue
        record = outcome.records.get(run_id)
        assert record is not None and record.status is RunStatus.cancelled, (
            f"cancel of {run_id} answered True but the run ended {record and record.status}"
        )
        if run_id in final and not _lost(outcome, run_id):
            assert final[run_id] is RunStatus.cancelled, (
                f"cancel of {run_id} answered True, its stream ends {final[run_id]}: {names(outcome.events)}"
            )


def check_records_agree(outcome: Outcome) -> None:
    """Each run's record, and each team's record of its members, says what the stream's terminal said."""
    final = _final_statuses(outcome)
    assert outcome.settled, "runs were left running after the stream ended"
    assert outcome.run_id in final, f"the run has no terminal event: {names(outcome.events)}"
    for run_id, record in outcome.records.items():
        if _lost(outcome, run_id):
            continue
        if run_id in final:
            assert record.status is final[run_id], (
                f"run {run_id} is {record.status} in its record, {final[run_id]} in the stream"
            )
        if isinstance(record, TeamRunOutput):
            for member in record.member_responses:
                assert member.status.is_terminal, f"member run {member.run_id} is {member.status} in {run_id}"
                if member.run_id in final:
                    assert member.status is final[member.run_id], (
                        f"team {run_id} records member run {member.run_id} as {member.status}, "
                        f"the stream says {final[member.run_id]}"
                    )


def check_all(outcome: Outcome) -> None:
    """Every rule."""
    check_one_terminal_per_run(outcome)
    check_nothing_after_terminal(outcome)
    check_members_before_team(outcome)
    check_cancel_answers(outcome)
    check_records_agree(outcome)


def _final_statuses(outcome: Outcome) -> dict[str, RunStatus]:
    return {event.run_id: status_of(event) for event in outcome.events if is_terminal(event)}


def _lost(outcome: Outcome, run_id: str) -> bool:
    """Whether the run is, or is under, a member whose stream failed: the leader's stand-in event speaks
    for it, not the run itself (in production it died with its actor)."""
    while run_id is not None:
        if run_id in outcome.faulted:
            return True
        record = outcome.records.get(run_id)
        run_id = record.parent_run_id if record else None
    return False

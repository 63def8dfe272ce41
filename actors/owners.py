"""Who a run belongs to: the agent or team it was started on, and its session and user."""

from __future__ import annotations

from typing import Literal, NamedTuple

from kern.specs import ComponentSpec, RunRequest

Kind = Literal["agent", "team"]


class RunOwner(NamedTuple):
    """A run's agent or team, session and user; as a claim (who asks to read or cancel a run), session and
    user may be None: "any"."""

    kind: Kind
    component_id: str
    session_id: str | None = None
    user_id: str | None = None

    @classmethod
    def of(cls, spec: ComponentSpec, request: RunRequest) -> RunOwner:
        return cls(spec.kind, spec.id, request.session_id, request.user_id)

    def admits(self, owner: RunOwner) -> bool:
        """Whether this claim covers a run of `owner`: the same agent or team, and the same session and
        user where the claim names them."""
        return (
            self.kind == owner.kind
            and self.component_id == owner.component_id
            and self.session_id in (None, owner.session_id)
            and self.user_id in (None, owner.user_id)
        )


class RunInFlight(NamedTuple):
    """A run a replica has in flight, as a restarted supervisor relearns it."""

    run_id: str
    parent_run_id: str | None
    owner: RunOwner | None
    """Whose run it is (a caller's run; None for a member's)."""
    node_id: str | None
    """The node whose per-node limit counts it (None if its component sets none, or for a member's run)."""

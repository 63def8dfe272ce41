"""Errors as one line a user may see: in error events, stored records and HTTP answers."""

from __future__ import annotations

MAX_CHARS = 300
_RAY_SUMMARIES = {
    "ActorDiedError": "the actor died, or its node was lost",
    "ActorUnavailableError": "the actor cannot be reached (it is restarting, or its node hangs)",
    "RayActorError": "the actor died, or its node was lost",
    "GetTimeoutError": "Ray did not answer in time",
    "ObjectLostError": "a result was lost with its node",
    "OwnerDiedError": "a result was lost with the process that made it",
}


def describe(exc: BaseException) -> str:
    """`Type: first line of the message`, at most `MAX_CHARS`: never a traceback. Ray's errors carry
    tracebacks, pids, IP addresses and actor ids in their text, so for them only what happened is said."""
    name = type(exc).__name__
    if type(exc).__module__.split(".")[0] == "ray":
        summary = next(
            (_RAY_SUMMARIES[c.__name__] for c in type(exc).__mro__ if c.__name__ in _RAY_SUMMARIES),
            "the Ray cluster failed the call",
        )
        return f"{name}: {summary}"
    lines = str(exc).strip().splitlines()
    text = f"{name}: {lines[0]}" if lines else name
    return text if len(text) <= MAX_CHARS else f"{text[: MAX_CHARS - 3]}..."

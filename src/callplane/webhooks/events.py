"""Which events a subscription wants: action names from the audit catalogue, `prefix.*`, or `*`.

`agent.*` matches every action under `agent.` (`agent.created`, `agent.version.published`, ...).
"""

from __future__ import annotations

from collections.abc import Iterable

from callplane.audit.actions import ACTIONS

EVERYTHING = "*"


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` names no known event, or None when it is valid."""
    if pattern == EVERYTHING or pattern in ACTIONS:
        return None
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        if prefix != "." and any(action.startswith(prefix) for action in ACTIONS):
            return None
        return f"{pattern!r} matches no event (unknown prefix {pattern[:-2]!r})"
    return f"{pattern!r} is not an event name, a `prefix.*` pattern or `*`"


def matches(patterns: Iterable[str], action: str) -> bool:
    for pattern in patterns:
        if pattern in (EVERYTHING, action):
            return True
        if pattern.endswith(".*") and action.startswith(pattern[:-1]):
            return True
    return False

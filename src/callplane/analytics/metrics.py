"""What can be computed honestly from a transcript, without a model: turns, tool calls, tools.

Transcript entries are dicts with a `role` (user|agent|tool|system); live conversations' agent
entries may carry `tool_calls` (`[{id, name, arguments}]`) and tool entries a `name`
(CONTRACTS.md §3). Imported transcripts have roles and contents only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _entries(transcript: Iterable[Any] | None) -> list[Mapping[str, Any]]:
    entries: list[Mapping[str, Any]] = []
    for entry in transcript or ():
        if isinstance(entry, Mapping):
            entries.append(entry)
        elif hasattr(entry, "model_dump"):
            entries.append(entry.model_dump())
    return entries


def _requested(entries: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        call
        for entry in entries
        for call in (entry.get("tool_calls") or [])
        if isinstance(call, Mapping)
    ]


def tool_calls(transcript: Iterable[Any] | None) -> int | None:
    """Tool calls made: the tool results in the transcript (or, if it holds none, the calls the
    agent asked for); None when there is no transcript."""
    if transcript is None:
        return None
    entries = _entries(transcript)
    results = sum(1 for entry in entries if entry.get("role") == "tool")
    return results or len(_requested(entries))


def tools_used(transcript: Iterable[Any] | None) -> list[str]:
    """Names of the tools called, sorted (known only where the transcript names them)."""
    entries = _entries(transcript)
    names = {str(call["name"]) for call in _requested(entries) if call.get("name")}
    names |= {
        str(entry["name"]) for entry in entries if entry.get("role") == "tool" and entry.get("name")
    }
    return sorted(names)


def turns(transcript: Iterable[Any] | None) -> int | None:
    """User and agent messages in the transcript; None when there is no transcript."""
    if transcript is None:
        return None
    return sum(1 for entry in _entries(transcript) if entry.get("role") in ("user", "agent"))

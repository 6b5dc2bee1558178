"""A config as one channel sees it: its `channel_overrides` entry applied (a pure function).

The engine applies the same rules when it runs a conversation on a channel; this copy serves
routing (a voice runtime gets the telephone view of a config). They should become one function.
"""

from __future__ import annotations

from typing import Any


def for_channel(config: dict[str, Any], channel: str) -> dict[str, Any]:
    """`config` (a stored AgentConfig document) with its `channel` override applied.

    `instructions` are appended (after a blank line) or replace the base ones per
    `instructions_mode`; `starting_message` and `max_tool_steps` replace the base values when
    set. The applied entry is then emptied (null), so applying the same channel again changes
    nothing: a runtime that applies overrides itself cannot apply them twice. The input is not
    modified."""
    overrides = config.get("channel_overrides") or {}
    override = overrides.get(channel)
    if not override:
        return config
    resolved = dict(config)
    extra = override.get("instructions")
    if extra is not None:
        base = config.get("instructions") or ""
        replace = override.get("instructions_mode") == "replace"
        resolved["instructions"] = extra if replace or not base else f"{base}\n\n{extra}"
    for name in ("starting_message", "max_tool_steps"):
        if override.get(name) is not None:
            resolved[name] = override[name]
    resolved["channel_overrides"] = {**overrides, channel: None}
    return resolved

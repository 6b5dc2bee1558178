"""A config as one channel sees it: its `channel_overrides` entry applied.

One set of rules for the engine (which applies them to the validated config of a conversation,
`runtime.prompt`) and for routing (a voice runtime gets the telephone view of a stored config
document): `combine_instructions` is the one place the append/replace rule lives.
"""

from __future__ import annotations

from typing import Any


def combine_instructions(base: str, extra: str | None, mode: str) -> str:
    """The base instructions with a channel's own: appended after a blank line, or replacing
    them (`mode` "replace"); the base unchanged when the channel has none."""
    if extra is None:
        return base
    return extra if mode == "replace" or not base else f"{base}\n\n{extra}"


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
    if override.get("instructions") is not None:
        resolved["instructions"] = combine_instructions(
            config.get("instructions") or "",
            override["instructions"],
            override.get("instructions_mode") or "append",
        )
    for name in ("starting_message", "max_tool_steps"):
        if override.get(name) is not None:
            resolved[name] = override[name]
    resolved["channel_overrides"] = {**overrides, channel: None}
    return resolved

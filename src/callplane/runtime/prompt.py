"""Prompt assembly: the system prompt of a channel, the starting message, the history in the
model's wire format, the knowledge passages of a turn, and the tools' function schemas."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callplane.agent_config.schemas import AgentConfig, ChannelOverride, Tool
from callplane.runtime import templates
from callplane.runtime.channels import combine_instructions
from callplane.runtime.events import Passage


@dataclass(frozen=True)
class ConversationContext:
    """What the engine knows of a conversation (loaded by whoever drives it)."""

    conversation_id: str
    agent_id: str | None
    channel: str
    config: AgentConfig
    variables: Mapping[str, str] = field(default_factory=dict)
    caller: str | None = None
    history: Sequence[Mapping[str, Any]] = ()  # transcript entries so far

    def override(self) -> ChannelOverride | None:
        override: ChannelOverride | None = getattr(
            self.config.channel_overrides, self.channel, None
        )
        return override

    def values(self) -> dict[str, Any]:
        """Template values: the conversation's variables, then the built-ins (which win)."""
        values: dict[str, Any] = dict(self.variables)
        values["conversation.id"] = self.conversation_id
        if self.agent_id is not None:
            values["agent.id"] = self.agent_id
        if self.caller is not None:
            values["caller.phone_number"] = self.caller
        return values

    def max_tool_steps(self) -> int:
        override = self.override()
        if override is not None and override.max_tool_steps is not None:
            return override.max_tool_steps
        return self.config.max_tool_steps


def raw_instructions(context: ConversationContext) -> str:
    override = context.override()
    if override is None:
        return context.config.instructions
    return combine_instructions(
        context.config.instructions, override.instructions, override.instructions_mode
    )


def raw_starting_message(context: ConversationContext) -> str | None:
    override = context.override()
    if override is not None and override.starting_message is not None:
        return override.starting_message
    return context.config.starting_message


def unknown_names(context: ConversationContext) -> list[str]:
    """Placeholders of the instructions and starting message that name nothing known: a
    conversation with them cannot start (422)."""
    values = context.values()
    texts = [raw_instructions(context), raw_starting_message(context) or ""]
    return list(dict.fromkeys(n for t in texts for n in templates.unknown_names(t, values)))


def system_prompt(context: ConversationContext) -> str:
    return templates.render(raw_instructions(context), context.values())


def starting_message(context: ConversationContext) -> str | None:
    text = raw_starting_message(context)
    return None if text is None else templates.render(text, context.values())


def knowledge_message(passages: Sequence[Passage]) -> dict[str, Any]:
    lines = [
        "Passages from the knowledge base that may answer the user's last message. Use them "
        "when they are relevant and say which source you used (title or URL); do not invent "
        "facts they do not contain."
    ]
    for number, passage in enumerate(passages, 1):
        source = " — ".join(part for part in (passage.title, passage.url) if part)
        lines.append(f"[{number}] {source or 'Untitled'}\n{passage.text}")
    return {"role": "system", "content": "\n\n".join(lines)}


def history_messages(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Transcript entries in the OpenAI chat format (system/event entries are left out)."""
    messages: list[dict[str, Any]] = []
    for entry in history:
        role = entry.get("role")
        if role == "user":
            messages.append({"role": "user", "content": entry.get("content", "")})
        elif role == "agent":
            calls = entry.get("tool_calls") or []
            if calls:
                messages.append(
                    {
                        "role": "assistant",
                        "content": entry.get("content") or None,
                        "tool_calls": [
                            {
                                "id": call["id"],
                                "type": "function",
                                "function": {
                                    "name": call["name"],
                                    "arguments": call["arguments"]
                                    if isinstance(call["arguments"], str)
                                    else json.dumps(call["arguments"]),
                                },
                            }
                            for call in calls
                        ],
                    }
                )
            elif entry.get("content"):
                messages.append({"role": "assistant", "content": entry["content"]})
        elif role == "tool":
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": entry.get("tool_call_id", ""),
                    "content": entry.get("content", ""),
                }
            )
    return messages


def tool_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": parameters_schema(tool),
        },
    }


def parameters_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(tool.properties),
        "required": list(tool.required),
        "additionalProperties": False,
    }

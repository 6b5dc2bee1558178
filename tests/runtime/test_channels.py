"""The telephone view of a config: the override rules, on plain documents (no database)."""

from __future__ import annotations

from typing import Any

from callplane.agent_config import AgentConfig
from callplane.runtime.channels import for_channel


def config(**fields: Any) -> dict[str, Any]:
    return AgentConfig.model_validate(fields).model_dump(mode="json")


def test_append_puts_a_blank_line_between_base_and_override() -> None:
    base = config(
        instructions="Help callers.",
        starting_message="Hi there.",
        max_tool_steps=10,
        channel_overrides={
            "telephone": {"instructions": "Keep answers short.", "max_tool_steps": 2},
            "text": {"instructions": "Use markdown.", "starting_message": "Hello, reader."},
        },
    )
    before = AgentConfig.model_validate(base).model_dump(mode="json")
    phone = for_channel(base, "telephone")
    assert phone["instructions"] == "Help callers.\n\nKeep answers short."
    assert phone["starting_message"] == "Hi there."  # not overridden: the base value
    assert phone["max_tool_steps"] == 2
    assert phone["channel_overrides"]["telephone"] is None  # applied, so emptied
    assert phone["channel_overrides"]["text"] == base["channel_overrides"]["text"]
    assert base == before  # the input is untouched
    assert for_channel(phone, "telephone") == phone  # applying again changes nothing
    AgentConfig.model_validate(phone)  # still a valid config

    text = for_channel(base, "text")
    assert text["instructions"] == "Help callers.\n\nUse markdown."
    assert (text["starting_message"], text["max_tool_steps"]) == ("Hello, reader.", 10)


def test_replace_and_empty_base() -> None:
    replaced = config(
        instructions="Long web instructions.",
        channel_overrides={
            "telephone": {"instructions": "Phone only.", "instructions_mode": "replace"}
        },
    )
    assert for_channel(replaced, "telephone")["instructions"] == "Phone only."
    no_base = config(channel_overrides={"telephone": {"instructions": "Phone only."}})
    assert for_channel(no_base, "telephone")["instructions"] == "Phone only."


def test_no_override_is_the_config_itself() -> None:
    plain = config(instructions="Help.", starting_message="Hi.")
    assert for_channel(plain, "telephone") == plain
    assert for_channel({"instructions": "Partial document"}, "telephone") == {
        "instructions": "Partial document"
    }

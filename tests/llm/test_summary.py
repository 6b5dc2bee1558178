"""TemplateWriter.summarize_changes: a plain-language, streamed summary of a config diff."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callplane.agent_config import AgentConfig
from callplane.agent_config.changes import Change
from callplane.llm import TemplateWriter
from callplane.versions.diff import diff_configs
from callplane.versions.summary import NO_DIFFERENCES, summary_chunks

KB_1 = "11111111-1111-4111-8111-111111111111"
KB_2 = "22222222-2222-4222-8222-222222222222"
HANGUP = {"type": "hangup"}

writer = TemplateWriter(summary_chunks)


async def chunks_of(changes: list[Change], from_version: int = 1, to_version: int = 2) -> list[str]:
    return [
        chunk
        async for chunk in writer.summarize_changes(
            changes, from_version=from_version, to_version=to_version
        )
    ]


async def summary_of(changes: list[Change]) -> str:
    return "".join(await chunks_of(changes))


def config(**fields: Any) -> dict[str, Any]:
    return AgentConfig.model_validate(fields).model_dump(mode="json")


def bullets(summary: str, area: str) -> list[str]:
    """The `- ` lines under an area's heading."""
    lines = summary.splitlines()
    start = lines.index(f"{area}:") + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("- "):
            break
        found.append(line[2:])
    return found


async def test_no_changes_means_no_differences() -> None:
    assert await chunks_of([]) == [NO_DIFFERENCES]
    assert NO_DIFFERENCES == "No differences."


async def test_instructions_quote_added_and_removed_sentences() -> None:
    before = (
        "You are the receptionist of Acme. Offer a 10% discount to new patients.\n"
        "- Never discuss prices.\n- Be kind."
    )
    after = (
        "You are the receptionist of Acme.\n"
        "Always confirm the caller's date of birth.\n"
        "- Never discuss prices.\n- Be kind and patient."
    )
    summary = await summary_of([Change("instructions", "changed", before, after)])

    assert bullets(summary, "Instructions") == [
        "Instructions: 2 sentences added, 2 sentences removed.",
        'Added: "Always confirm the caller\'s date of birth."',
        'Added: "Be kind and patient."',
        'Removed: "Offer a 10% discount to new patients."',
        'Removed: "Be kind."',
    ]
    assert "Never discuss prices" not in summary  # unchanged sentences are not news


async def test_reflowed_instructions_are_only_a_formatting_change() -> None:
    before = "Greet the caller. Ask for their name.\nBe brief."
    after = "Greet the caller.\n\nAsk for their   name.\n* Be brief."
    summary = await summary_of([Change("instructions", "changed", before, after)])

    assert bullets(summary, "Instructions") == [
        "Instructions: only the formatting changed (whitespace, line breaks or list markers)."
    ]


async def test_moved_sentences_are_counted_not_quoted() -> None:
    summary = await summary_of(
        [Change("instructions", "changed", "A one. B two.", "B two. A one.")]
    )
    assert bullets(summary, "Instructions") == ["Instructions: 1 sentence moved."]


async def test_instructions_written_cleared_and_long_lists() -> None:
    written = await summary_of([Change("instructions", "changed", "", "Hello there. Help them.")])
    assert bullets(written, "Instructions") == [
        'Instructions written (2 sentences), starting with "Hello there. Help them.".'
    ]

    cleared = await summary_of([Change("instructions", "changed", "One. Two. Three.", "")])
    assert bullets(cleared, "Instructions") == ["Instructions cleared (they had 3 sentences)."]

    many = " ".join(f"Rule number {n}." for n in range(10))
    long = await summary_of([Change("instructions", "changed", "Start.", f"Start. {many}")])
    lines = bullets(long, "Instructions")
    assert lines[0] == "Instructions: 10 sentences added."
    assert lines[1:7] == [f'Added: "Rule number {n}."' for n in range(6)]
    assert lines[7] == "…and 4 more added."


async def test_a_multi_area_diff_streams_one_chunk_per_area() -> None:
    before = config(
        instructions="Be brief. Offer a discount.",
        starting_message="Hi!",
        voice={"voice_id": "alloy", "speed": 1.0},
        llm={"model": "gpt-4o-mini", "temperature": 0.7},
        stt={"language": "en-US"},
        tools=[
            {"name": "lookup_order", "description": "Find an order.", "actions": [HANGUP]},
            {"name": "transfer", "description": "Transfer the call.", "actions": [HANGUP]},
        ],
        knowledge_bases=[{"collection_id": KB_1}, {"collection_id": KB_2, "top_n": 5}],
        channel_overrides={"telephone": {"instructions": "Speak slowly."}},
        recording={"enabled": False},
        end_call={"end_phrases": ["bye"]},
    )
    after = config(
        instructions="Be brief. Ask for the order number.",
        starting_message="Hello, Acme here.",
        voice={"voice_id": "nova", "speed": 1.2, "language": "de-DE"},
        llm={"model": "gpt-4o", "temperature": 0.3},
        stt={"language": None},
        tools=[
            {
                "name": "transfer",
                "description": "Transfer the call to the front desk.",
                "properties": {"reason": {"type": "string"}},
                "actions": [HANGUP],
            },
            {"name": "book_appointment", "description": "Book a visit.", "actions": [HANGUP]},
        ],
        knowledge_bases=[{"collection_id": KB_2, "top_n": 8}],
        channel_overrides={
            "telephone": {"instructions": "Speak slowly. Spell names back."},
            "sms": {"instructions": "Keep it short.", "max_tool_steps": 3},
        },
        pre_conversation_workflow={"url": "https://crm.test/hook"},
        recording={"enabled": True},
        noise_cancellation=True,
        end_call={"end_phrases": ["bye", "goodbye"], "max_duration_seconds": 900},
        max_tool_steps=5,
    )
    changes = diff_configs(before, after)

    chunks = await chunks_of(changes, from_version=3, to_version=4)
    summary = "".join(chunks)

    assert chunks[0] == f"Changes from version 3 to version 4 ({len(changes)} changes):\n"
    titles = [chunk.splitlines()[1] for chunk in chunks[1:]]
    assert titles == [
        "Instructions:",
        "Starting message:",
        "Voice:",
        "LLM:",
        "Speech-to-text:",
        "Tools:",
        "Knowledge bases:",
        "Channel overrides:",
        "Workflows:",
        "Call handling:",
    ]
    assert bullets(summary, "Instructions") == [
        "Instructions: 1 sentence added, 1 sentence removed.",
        'Added: "Ask for the order number."',
        'Removed: "Offer a discount."',
    ]
    assert bullets(summary, "Starting message") == [
        'Starting message changed from "Hi!" to "Hello, Acme here.".'
    ]
    assert bullets(summary, "Voice") == [
        'Voice changed from "alloy" to "nova".',
        'Language changed from "en-US" to "de-DE".',
        "Speaking speed changed from 1.0 to 1.2.",
    ]
    assert bullets(summary, "LLM") == [
        'Model changed from "gpt-4o-mini" to "gpt-4o".',
        "Temperature changed from 0.7 to 0.3.",
    ]
    assert bullets(summary, "Speech-to-text") == ['Language removed (was "en-US").']
    assert bullets(summary, "Tools") == [
        'Removed the tool "lookup_order".',
        'Added the tool "book_appointment": Book a visit.',
        "Tool calls allowed per turn changed from 10 to 5.",
        'Changed the tool "transfer": description, argument reason added.',
    ]
    assert bullets(summary, "Knowledge bases") == [
        f"Detached the knowledge collection {KB_1}.",
        f"Collection {KB_2}: passages per turn changed from 5 to 8.",
    ]
    assert bullets(summary, "Channel overrides") == [
        "telephone: instructions: 1 sentence added.",
        'telephone: added: "Spell names back."',
        "sms: override added.",
        'sms: instructions written (1 sentence), starting with "Keep it short.".',
        'sms: instructions mode set to "append".',
        "sms: tool calls allowed per turn set to 3.",
    ]
    assert bullets(summary, "Workflows") == [
        "Pre-conversation workflow added: calls POST https://crm.test/hook."
    ]
    assert bullets(summary, "Call handling") == [
        "Recording turned on.",
        "Noise cancellation turned on.",
        "Maximum conversation length (seconds) changed from 1800 to 900.",
        'End phrases: added "goodbye".',
    ]


async def test_removed_and_changed_things_by_name() -> None:
    changes = [
        Change("starting_message", "changed", "Hi!", None),
        Change("tools[lookup_order].actions", "changed", [HANGUP], [HANGUP, HANGUP]),
        Change("tools[lookup_order].output", "changed", None, "Order {{id}}"),
        Change("knowledge_bases[" + KB_1 + "]", "added", None, {"collection_id": KB_1, "top_n": 5}),
        Change("channel_overrides.email", "removed", {"instructions": "Sign off."}, None),
        Change("channel_overrides.webrtc.instructions_mode", "changed", "append", "replace"),
        Change("post_conversation_workflow", "removed", {"workflow_id": "crm_sync"}, None),
        Change("pre_conversation_workflow.timeout_seconds", "changed", 30, 60),
        Change("end_call.silence_timeout_seconds", "changed", 30, None),
        Change("recording.retention_days", "changed", None, 90),
    ]
    summary = await summary_of(changes)

    assert bullets(summary, "Starting message") == [
        'Removed (was "Hi!"): the agent now waits for the user to speak first.'
    ]
    assert bullets(summary, "Tools") == ['Changed the tool "lookup_order": actions, output.']
    assert bullets(summary, "Knowledge bases") == [
        f"Attached the knowledge collection {KB_1} (5 passages per turn)."
    ]
    assert bullets(summary, "Channel overrides") == [
        "email: override removed; this channel now uses the base config.",
        'webrtc: instructions mode changed from "append" to "replace".',
    ]
    assert bullets(summary, "Workflows") == [
        "Post-conversation workflow removed.",
        "Pre-conversation workflow: timeout seconds changed from 30 to 60.",
    ]
    assert bullets(summary, "Call handling") == [
        "Silence timeout (seconds) removed (was 30).",
        "Recording retention (days) set to 90.",
    ]


async def test_whole_objects_and_lists_are_broken_down() -> None:
    """The diff engine may report a list it cannot key, or a whole object: same summary."""
    changes = [
        Change(
            "tools",
            "changed",
            [{"name": "a", "description": "x"}, {"name": "b", "description": "y"}],
            [{"name": "b", "description": "z"}, {"name": "c", "description": "w"}],
        ),
        Change("knowledge_bases", "changed", [{"collection_id": KB_1}], [{"collection_id": KB_2}]),
        Change(
            "channel_overrides",
            "changed",
            {"telephone": None, "sms": {"instructions": "A."}},
            {"telephone": {"instructions": "B."}, "sms": None},
        ),
        Change("voice", "changed", {"voice_id": "alloy"}, {"voice_id": "nova"}),
    ]
    summary = await summary_of(changes)

    assert bullets(summary, "Tools") == [
        'Removed the tool "a".',
        'Added the tool "c": w.',
        'Changed the tool "b": description.',
    ]
    assert bullets(summary, "Knowledge bases") == [
        f"Detached the knowledge collection {KB_1}.",
        f"Attached the knowledge collection {KB_2}.",
    ]
    assert bullets(summary, "Channel overrides") == [
        "telephone: override added.",
        'telephone: instructions written (1 sentence), starting with "B.".',
        "sms: override removed; this channel now uses the base config.",
    ]
    assert bullets(summary, "Voice") == ['Voice changed from "alloy" to "nova".']


async def test_unknown_paths_are_reported_by_path() -> None:
    summary = await summary_of(
        [
            Change("type", "changed", "static_prompt", "dynamic"),
            Change("future.setting", "changed", {"a": 1}, {"a": 2}),
        ]
    )
    assert bullets(summary, "Other settings") == [
        'type changed from "static_prompt" to "dynamic".',
        "future.setting.a changed from 1 to 2.",
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
paths = st.one_of(
    st.sampled_from(
        [
            "",
            "instructions",
            "starting_message",
            "voice",
            "voice.speed",
            "tools",
            "tools[x]",
            "tools[x].properties",
            "tools[x].properties.y.type",
            "knowledge_bases",
            "knowledge_bases[k]",
            "knowledge_bases[k].top_n",
            "channel_overrides",
            "channel_overrides.sms",
            "channel_overrides.sms.instructions",
            "pre_conversation_workflow",
            "end_call.end_phrases",
            "max_tool_steps",
        ]
    ),
    st.text(alphabet="abc._[]", max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.builds(
            Change,
            paths,
            st.sampled_from(["added", "removed", "changed"]),
            json_values,
            json_values,
        ),
        min_size=1,
        max_size=5,
    )
)
async def test_any_change_list_gets_a_summary(changes: list[Change]) -> None:
    chunks = await chunks_of(changes)
    assert len(chunks) >= 2
    assert chunks[0].startswith("Changes from version 1 to version 2")
    assert all(chunk.startswith("\n") and chunk.endswith("\n") for chunk in chunks[1:])

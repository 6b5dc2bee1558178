"""The structured config diff (SPEC §4 `versions/diff`): pure unit tests of `diff_configs`.

Configs are built through AgentConfig and dumped in JSON mode, exactly as versions store them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callplane.agent_config.changes import Change
from callplane.agent_config.schemas import AgentConfig, default_config
from callplane.versions.diff import diff_configs

KB_1 = "11111111-1111-4111-8111-111111111111"
KB_2 = "22222222-2222-4222-8222-222222222222"
KB_3 = "33333333-3333-4333-8333-333333333333"

HANGUP = {"type": "hangup"}


def config(**fields: Any) -> dict[str, Any]:
    """A valid config with `fields` set, as stored (a JSON-mode dump)."""
    return AgentConfig.model_validate(fields).model_dump(mode="json")


def tool(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "description": f"The {name} tool.", "actions": [HANGUP], **fields}


def dumped_tool(name: str, **fields: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = config(tools=[tool(name, **fields)])["tools"][0]
    return dumped


# --- identity and sparse input ------------------------------------------------------------------


def test_identical_configs_have_no_changes() -> None:
    rich = config(
        instructions="Be kind.",
        tools=[tool("lookup_order", properties={"order_id": {"type": "string"}})],
        knowledge_bases=[{"collection_id": KB_1}],
        channel_overrides={"telephone": {"instructions": "Be brief."}},
    )
    assert diff_configs(default_config(), default_config()) == []
    assert diff_configs(rich, copy.deepcopy(rich)) == []


def test_missing_top_level_keys_mean_the_defaults() -> None:
    assert diff_configs({}, default_config()) == []
    assert diff_configs(default_config(), {}) == []
    assert diff_configs({}, {"instructions": "Hello."}) == [
        Change("instructions", "changed", "", "Hello.")
    ]
    assert diff_configs({"noise_cancellation": True}, {}) == [
        Change("noise_cancellation", "changed", True, False)
    ]


def test_missing_nested_keys_mean_null() -> None:
    sparse = {"tools": [{"name": "t", "description": "d", "actions": [HANGUP]}]}
    explicit = {"tools": [{"name": "t", "description": "d", "actions": [HANGUP], "output": None}]}
    assert diff_configs(sparse, explicit) == []
    assert diff_configs(sparse, {"tools": [{**explicit["tools"][0], "output": "{{x}}"}]}) == [
        Change("tools[t].output", "changed", None, "{{x}}")
    ]


def test_unknown_top_level_keys_are_diffed_after_the_model_fields() -> None:
    before = {"zzz_legacy": 1, "instructions": "a"}
    after = {"instructions": "b", "aaa_new": {"x": 1}}
    assert diff_configs(before, after) == [
        Change("instructions", "changed", "a", "b"),
        Change("zzz_legacy", "changed", 1, None),
        Change("aaa_new", "added", None, {"x": 1}),
    ]


# --- scalars, objects, lists --------------------------------------------------------------------


def test_scalars_are_changed_at_their_dotted_path() -> None:
    before = config()
    after = config(
        voice={"voice_id": "nova"},
        llm={"temperature": 0.2},
        max_tool_steps=3,
        noise_cancellation=True,
    )
    assert diff_configs(before, after) == [
        Change("llm.temperature", "changed", 0.7, 0.2),
        Change("voice.voice_id", "changed", "alloy", "nova"),
        Change("max_tool_steps", "changed", 10, 3),
        Change("noise_cancellation", "changed", False, True),
    ]


def test_instructions_change_is_one_change_with_both_full_texts() -> None:
    old_text = "You are a helpful agent.\nAlways greet.\nNever lie."
    new_text = "You are a helpful agent.\nGreet only once.\nNever lie.\nBe brief."
    assert diff_configs(config(instructions=old_text), config(instructions=new_text)) == [
        Change("instructions", "changed", old_text, new_text)
    ]


def test_null_to_value_scalars_are_changed_not_added() -> None:
    before = config()
    after = config(starting_message="Hi there!", llm={"max_tokens": 500})
    assert diff_configs(before, after) == [
        Change("starting_message", "changed", None, "Hi there!"),
        Change("llm.max_tokens", "changed", None, 500),
    ]
    assert diff_configs(after, before) == [
        Change("starting_message", "changed", "Hi there!", None),
        Change("llm.max_tokens", "changed", 500, None),
    ]


def test_object_from_null_is_added_whole_and_back_is_removed_whole() -> None:
    without = config()
    with_workflow = config(pre_conversation_workflow={"workflow_id": "crm_lookup"})
    workflow = {
        "workflow_id": "crm_lookup",
        "workflow_version": None,
        "url": None,
        "method": "POST",
        "timeout_seconds": 30,
        "reject_on_error": False,
    }
    assert diff_configs(without, with_workflow) == [
        Change("pre_conversation_workflow", "added", None, workflow)
    ]
    assert diff_configs(with_workflow, without) == [
        Change("pre_conversation_workflow", "removed", workflow, None)
    ]


def test_object_on_both_sides_is_recursed_into() -> None:
    before = config(post_conversation_workflow={"workflow_id": "summary", "timeout_seconds": 10})
    after = config(post_conversation_workflow={"url": "https://crm.example/hook"})
    assert diff_configs(before, after) == [
        Change("post_conversation_workflow.workflow_id", "changed", "summary", None),
        Change("post_conversation_workflow.url", "changed", None, "https://crm.example/hook"),
        Change("post_conversation_workflow.timeout_seconds", "changed", 10, 30),
    ]


def test_plain_lists_are_compared_as_whole_values() -> None:
    before = config(end_call={"end_phrases": ["bye", "goodbye"]})
    after = config(end_call={"end_phrases": ["goodbye", "bye", "see you"]})
    assert diff_configs(before, after) == [
        Change("end_call.end_phrases", "changed", ["bye", "goodbye"], ["goodbye", "bye", "see you"])
    ]


# --- channel overrides --------------------------------------------------------------------------


def test_telephone_override_added_then_its_mode_changed_then_removed() -> None:
    base = config()
    appended = config(channel_overrides={"telephone": {"instructions": "Speak slowly."}})
    replaced = config(
        channel_overrides={
            "telephone": {"instructions": "Speak slowly.", "instructions_mode": "replace"}
        }
    )
    override = {
        "instructions": "Speak slowly.",
        "instructions_mode": "append",
        "starting_message": None,
        "max_tool_steps": None,
    }
    assert diff_configs(base, appended) == [
        Change("channel_overrides.telephone", "added", None, override)
    ]
    assert diff_configs(appended, replaced) == [
        Change("channel_overrides.telephone.instructions_mode", "changed", "append", "replace")
    ]
    assert diff_configs(appended, base) == [
        Change("channel_overrides.telephone", "removed", override, None)
    ]


def test_channel_override_instructions_changed() -> None:
    before = config(channel_overrides={"sms": {"instructions": "Short texts."}})
    after = config(channel_overrides={"sms": {"instructions": "Very short texts."}})
    assert diff_configs(before, after) == [
        Change("channel_overrides.sms.instructions", "changed", "Short texts.", "Very short texts.")
    ]


# --- tools --------------------------------------------------------------------------------------


def test_tool_added_and_removed_as_a_whole() -> None:
    without = config()
    with_tool = config(tools=[tool("lookup_order")])
    assert diff_configs(without, with_tool) == [
        Change("tools[lookup_order]", "added", None, dumped_tool("lookup_order"))
    ]
    assert diff_configs(with_tool, without) == [
        Change("tools[lookup_order]", "removed", dumped_tool("lookup_order"), None)
    ]


def test_tool_fields_changed_on_a_tool_present_on_both_sides() -> None:
    before = config(
        tools=[
            tool(
                "lookup_order",
                properties={"order_id": {"type": "string"}},
                required=["order_id"],
            )
        ]
    )
    play = {"type": "play_message", "message": "One moment."}
    after = config(
        tools=[
            tool(
                "lookup_order",
                description="Find an order by id.",
                properties={
                    "order_id": {"type": "integer"},
                    "email": {"type": "string", "description": "Customer email."},
                },
                required=["order_id", "email"],
                actions=[play, HANGUP],
            )
        ]
    )
    assert diff_configs(before, after) == [
        Change(
            "tools[lookup_order].description",
            "changed",
            "The lookup_order tool.",
            "Find an order by id.",
        ),
        Change("tools[lookup_order].properties.order_id.type", "changed", "string", "integer"),
        Change(
            "tools[lookup_order].properties.email",
            "added",
            None,
            {"type": "string", "description": "Customer email."},
        ),
        Change("tools[lookup_order].required", "changed", ["order_id"], ["order_id", "email"]),
        Change(
            "tools[lookup_order].actions",
            "changed",
            [{"condition": None, "type": "hangup"}],
            [
                {"condition": None, "type": "play_message", "message": "One moment."},
                {"condition": None, "type": "hangup"},
            ],
        ),
    ]


def test_tool_property_removed() -> None:
    before = config(tools=[tool("t", properties={"a": {"type": "string"}})])
    after = config(tools=[tool("t")])
    assert diff_configs(before, after) == [
        Change("tools[t].properties.a", "removed", {"type": "string"}, None)
    ]


def test_renamed_tool_is_a_removal_and_an_addition() -> None:
    before = config(tools=[tool("find_order", description="Find it.")])
    after = config(tools=[tool("lookup_order", description="Find it.")])
    assert diff_configs(before, after) == [
        Change(
            "tools[find_order]", "removed", dumped_tool("find_order", description="Find it."), None
        ),
        Change(
            "tools[lookup_order]",
            "added",
            None,
            dumped_tool("lookup_order", description="Find it."),
        ),
    ]


def test_reordering_tools_is_not_a_change() -> None:
    assert (
        diff_configs(config(tools=[tool("a"), tool("b")]), config(tools=[tool("b"), tool("a")]))
        == []
    )


def test_keyed_list_order_is_before_items_in_place_then_added_ones() -> None:
    before = config(tools=[tool("a"), tool("b"), tool("c")])
    after = config(tools=[tool("d"), tool("c"), tool("a", description="A!"), tool("e")])
    assert diff_configs(before, after) == [
        Change("tools[a].description", "changed", "The a tool.", "A!"),
        Change("tools[b]", "removed", dumped_tool("b"), None),
        Change("tools[d]", "added", None, dumped_tool("d")),
        Change("tools[e]", "added", None, dumped_tool("e")),
    ]


def test_unkeyable_list_falls_back_to_a_whole_value_change() -> None:
    twice = [tool("a"), tool("a")]
    nameless = [{"description": "no name", "actions": [HANGUP]}]
    assert diff_configs({"tools": twice}, {"tools": [tool("a")]}) == [
        Change("tools", "changed", twice, [tool("a")])
    ]
    assert diff_configs({"tools": []}, {"tools": nameless}) == [
        Change("tools", "changed", [], nameless)
    ]
    assert diff_configs({"tools": None}, {"tools": []}) == []


# --- knowledge bases ----------------------------------------------------------------------------


def test_knowledge_base_attach_detach_and_top_n() -> None:
    none = config()
    one = config(knowledge_bases=[{"collection_id": KB_1}])
    two = config(knowledge_bases=[{"collection_id": KB_1, "top_n": 8}, {"collection_id": KB_2}])
    assert diff_configs(none, one) == [
        Change(f"knowledge_bases[{KB_1}]", "added", None, {"collection_id": KB_1, "top_n": 5})
    ]
    assert diff_configs(one, none) == [
        Change(f"knowledge_bases[{KB_1}]", "removed", {"collection_id": KB_1, "top_n": 5}, None)
    ]
    assert diff_configs(one, two) == [
        Change(f"knowledge_bases[{KB_1}].top_n", "changed", 5, 8),
        Change(f"knowledge_bases[{KB_2}]", "added", None, {"collection_id": KB_2, "top_n": 5}),
    ]


# --- order and copies ---------------------------------------------------------------------------


def test_order_follows_the_model_not_the_input_key_order() -> None:
    before = config()
    after = config(
        end_call={"max_duration_seconds": 60},
        tools=[tool("t")],
        instructions="New.",
        type="static_prompt",
        recording={"enabled": True},
        llm={"model": "gpt-4o"},
    )
    reversed_after = dict(reversed(list(after.items())))
    reversed_before = dict(reversed(list(before.items())))
    expected = [
        Change("instructions", "changed", "", "New."),
        Change("llm.model", "changed", "gpt-4o-mini", "gpt-4o"),
        Change("tools[t]", "added", None, dumped_tool("t")),
        Change("recording.enabled", "changed", False, True),
        Change("end_call.max_duration_seconds", "changed", 1800, 60),
    ]
    assert diff_configs(before, after) == expected
    assert diff_configs(reversed_before, reversed_after) == expected
    assert diff_configs(before, after) == diff_configs(before, after)


def test_changes_hold_copies_of_the_values() -> None:
    before = config()
    after = config(tools=[tool("t")])
    [change] = diff_configs(before, after)
    change.after["description"] = "mutated"
    assert after["tools"][0]["description"] == "The t tool."


# --- property: the diff is exact ----------------------------------------------------------------

KEY_FIELDS = {"tools": "name", "knowledge_bases": "collection_id"}
SEGMENT = re.compile(r"^([^.\[\]]+)(?:\[([^\]]+)\])?$")


def parse_path(path: str) -> list[tuple[str, str | None]]:
    """`tools[t].properties.a` → [("tools", "t"), ("properties", None), ("a", None)]."""
    segments: list[tuple[str, str | None]] = []
    for part in path.split("."):
        match = SEGMENT.match(part)
        assert match is not None, path
        segments.append((match.group(1), match.group(2)))
    return segments


def keyed_item(items: list[dict[str, Any]], field: str, key: str) -> dict[str, Any] | None:
    return next((item for item in items if str(item[KEY_FIELDS[field]]) == key), None)


def value_at(config_: dict[str, Any], path: str) -> Any:
    node: Any = config_
    for field, key in parse_path(path):
        if node is None:
            return None
        node = node.get(field)
        if key is not None:
            node = keyed_item(node or [], field, key)
    return node


def apply_changes(before: dict[str, Any], changes: list[Change]) -> dict[str, Any]:
    """Write each change's `after` at its path into a copy of `before`."""
    result = copy.deepcopy(before)
    for change in changes:
        *parents, (field, key) = parse_path(change.path)
        node: Any = result
        for parent_field, parent_key in parents:
            node = node[parent_field]
            if parent_key is not None:
                node = keyed_item(node, parent_field, parent_key)
        if key is None:
            node[field] = copy.deepcopy(change.after)
            continue
        items = node[field]
        if change.op == "removed":
            items.remove(keyed_item(items, field, key))
        else:
            assert change.op == "added", change
            items.append(copy.deepcopy(change.after))
    return result


def normalized(config_: dict[str, Any]) -> dict[str, Any]:
    """What the diff compares: keyed lists as {key: item} (their order is no change) and no null
    keys (a missing key and a null one are the same to the diff)."""
    return {
        name: without_nulls(
            {str(item[KEY_FIELDS[name]]): item for item in value} if name in KEY_FIELDS else value
        )
        for name, value in config_.items()
    }


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    return value


words = st.sampled_from(["alpha", "beta", "gamma"])
json_property = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer"])}, optional={"description": words}
)
actions = st.lists(
    st.sampled_from([HANGUP, {"type": "play_message", "message": "Wait."}]), min_size=1, max_size=2
)


@st.composite
def tool_dicts(draw: st.DrawFn) -> dict[str, Any]:
    properties = draw(st.dictionaries(st.sampled_from(["order_id", "email"]), json_property))
    return {
        "name": draw(st.sampled_from(["lookup_order", "book_slot", "transfer"])),
        "description": draw(words),
        "properties": properties,
        "required": sorted(properties)[: draw(st.integers(0, len(properties)))],
        "actions": draw(actions),
        "output": draw(st.none() | words),
    }


channel_override = st.none() | st.fixed_dictionaries(
    {"instructions": st.none() | words, "instructions_mode": st.sampled_from(["append", "replace"])}
)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    raw = {
        "instructions": draw(st.sampled_from(["", "Be kind.", "Be kind.\nBe brief."])),
        "starting_message": draw(st.none() | words),
        "llm": {
            "temperature": draw(st.sampled_from([0.0, 0.7, 1.5])),
            "max_tokens": draw(st.none() | st.just(1000)),
        },
        "voice": {"voice_id": draw(words)},
        "knowledge_bases": draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "collection_id": st.sampled_from([KB_1, KB_2, KB_3]),
                        "top_n": st.integers(1, 3),
                    }
                ),
                max_size=3,
                unique_by=lambda kb: kb["collection_id"],
            )
        ),
        "tools": draw(st.lists(tool_dicts(), max_size=3, unique_by=lambda t: t["name"])),
        "max_tool_steps": draw(st.integers(1, 3)),
        "channel_overrides": {"telephone": draw(channel_override), "sms": draw(channel_override)},
        "pre_conversation_workflow": draw(
            st.none()
            | st.fixed_dictionaries({"workflow_id": words, "reject_on_error": st.booleans()})
        ),
        "end_call": {
            "end_phrases": draw(st.lists(st.sampled_from(["bye", "goodbye"]), max_size=2))
        },
    }
    return config(**raw)


@st.composite
def config_pairs(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two configs that share a random subset of their top-level fields, so pairs differ a little
    as often as a lot."""
    before = draw(configs())
    other = draw(configs())
    after = {name: other[name] if draw(st.booleans()) else before[name] for name in before}
    return before, after


INVERSE = {"added": "removed", "removed": "added", "changed": "changed"}


@settings(max_examples=150, deadline=None)
@given(config_pairs())
def test_applying_the_diff_to_before_gives_after(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    before, after = pair
    changes = diff_configs(before, after)

    assert diff_configs(before, before) == []
    assert diff_configs(after, after) == []
    assert normalized(apply_changes(before, changes)) == normalized(after)

    paths = [change.path for change in changes]
    for change in changes:
        assert value_at(before, change.path) == change.before
        assert value_at(after, change.path) == change.after
        assert change.before != change.after
        # As fine-grained as the rules say: objects on both sides and keyed lists are itemised,
        # and only whole objects are added or removed.
        assert not (isinstance(change.before, dict) and isinstance(change.after, dict))
        assert change.path not in KEY_FIELDS
        if change.op == "added":
            assert change.before is None and isinstance(change.after, dict)
        if change.op == "removed":
            assert isinstance(change.before, dict) and change.after is None
        # No change is nested inside another one: each difference is reported once.
        assert not [p for p in paths if p != change.path and p.startswith(change.path + ".")]
        assert not [p for p in paths if p.startswith(change.path + "[")]
    assert len(set(paths)) == len(paths)

    # The reverse diff is the same set of changes, inverted.
    assert {c.path: (c.op, c.before, c.after) for c in diff_configs(after, before)} == {
        c.path: (INVERSE[c.op], c.after, c.before) for c in changes
    }

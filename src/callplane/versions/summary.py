"""A plain-language summary of a config diff, one text chunk per area, without a model.

Changes are matched to areas by path prefix, and whole objects or lists (e.g. `voice`, `tools`,
`channel_overrides.telephone`) are broken down here, so the summary reads the same whether the
diff engine reports a leaf or the object around it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from callplane.agent_config.changes import Change, Op, segments
from callplane.kit.text import plural
from callplane.llm.text import one_line, quote, sentence_diff, sentences

NO_DIFFERENCES = "No differences."

MAX_QUOTED = 6  # quoted sentences per direction before "and N more"


def show(value: Any) -> str:
    """A JSON value as a reader would want it in a sentence."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return quote(value, 100)
    if isinstance(value, list) and all(not isinstance(item, dict | list) for item in value):
        if not value:
            return "none"
        if len(value) <= 5:
            return ", ".join(show(item) for item in value)
        return f"{len(value)} items"
    return one_line(json.dumps(value, ensure_ascii=False, sort_keys=True), 100)


def field_sentence(label: str, change: Change) -> str:
    """One sentence about one value: set, removed, turned on/off or changed."""
    before, after = change.before, change.after
    if isinstance(after, bool) and (isinstance(before, bool) or before is None):
        return f"{label} turned {show(after)}."
    if isinstance(before, list) and isinstance(after, list) and before and after:
        parts = []
        if added := [item for item in after if item not in before]:
            parts.append(f"added {show(added)}")
        if removed := [item for item in before if item not in after]:
            parts.append(f"removed {show(removed)}")
        if parts:
            return f"{label}: {'; '.join(parts)}."
    if change.op == "added" or before is None:
        return f"{label} set to {show(after)}."
    if change.op == "removed" or after is None:
        return f"{label} removed (was {show(before)})."
    return f"{label} changed from {show(before)} to {show(after)}."


def _op(before: Any, after: Any) -> Op:
    return "added" if before is None else "removed" if after is None else "changed"


def leaves(change: Change) -> Iterator[Change]:
    """A change on an object broken into changes on its fields (recursively); others as they are."""
    before = change.before if isinstance(change.before, dict) else None
    after = change.after if isinstance(change.after, dict) else None
    if before is None and after is None:
        yield change
        return
    if (before is None and change.before is not None) or (
        after is None and change.after is not None
    ):
        yield change  # an object replaced by a scalar: nothing finer to say
        return
    old, new = before or {}, after or {}
    for key in [*old, *(key for key in new if key not in old)]:
        if old.get(key) == new.get(key):
            continue
        path = f"{change.path}.{key}"
        yield from leaves(Change(path, _op(old.get(key), new.get(key)), old.get(key), new.get(key)))


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def by_key(change: Change, key: str) -> Iterator[Change]:
    """A change on a whole list of named items (`tools`, `knowledge_bases`) as per-item changes."""
    old = {str(item.get(key)): item for item in _dicts(change.before)}
    new = {str(item.get(key)): item for item in _dicts(change.after)}
    for name in [*old, *(name for name in new if name not in old)]:
        if old.get(name) == new.get(name):
            continue
        path = f"{change.path}[{name}]"
        yield Change(path, _op(old.get(name), new.get(name)), old.get(name), new.get(name))


# --- instructions ---------------------------------------------------------------------------------


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


def _quoted(prefix: str, items: list[str]) -> list[str]:
    lines = [f"{prefix}: {quote(item)}" for item in items[:MAX_QUOTED]]
    if len(items) > MAX_QUOTED:
        lines.append(f"…and {len(items) - MAX_QUOTED} more {prefix.lower()}.")
    return lines


def text_lines(change: Change, *, what: str) -> list[str]:
    """Lines about a changed text (the instructions, or a channel's instructions)."""
    before = change.before if isinstance(change.before, str) else ""
    after = change.after if isinstance(change.after, str) else ""
    if not before.strip() and not after.strip():
        return [f"{what.capitalize()} changed (whitespace only)."]
    if not before.strip():
        written = sentences(after)
        return [
            f"{what.capitalize()} written ({plural(len(written), 'sentence')}), starting with "
            f"{quote(after)}."
        ]
    if not after.strip():
        return [
            f"{what.capitalize()} cleared (they had {plural(len(sentences(before)), 'sentence')})."
        ]
    diff = sentence_diff(before, after)
    if not (diff.added or diff.removed or diff.moved):
        return [
            f"{what.capitalize()}: only the formatting changed (whitespace, line breaks or "
            "list markers)."
        ]
    counts = []
    if diff.added:
        counts.append(f"{plural(len(diff.added), 'sentence')} added")
    if diff.removed:
        counts.append(f"{plural(len(diff.removed), 'sentence')} removed")
    if diff.moved:
        counts.append(f"{plural(len(diff.moved), 'sentence')} moved")
    return [
        f"{what.capitalize()}: {', '.join(counts)}.",
        *_quoted("Added", diff.added),
        *_quoted("Removed", diff.removed),
    ]


# --- areas ----------------------------------------------------------------------------------------


def _instructions(changes: list[Change]) -> list[str]:
    return [line for change in changes for line in text_lines(change, what="instructions")]


def _starting_message(changes: list[Change]) -> list[str]:
    lines = []
    for change in changes:
        if change.after is None:
            lines.append(
                f"Removed (was {show(change.before)}): the agent now waits for the user to speak "
                "first."
            )
        else:
            lines.append(field_sentence("Starting message", change))
    return lines


def _fields(
    labels: dict[str, str], *, keep_head: bool = False
) -> Callable[[list[Change]], list[str]]:
    """An area of plain settings (voice, LLM, STT…): one sentence per changed field.

    The label is built from the path after the area's name (`voice.voice_id` → "Voice"), or from
    the whole path with `keep_head` when the area spans several top-level fields.
    """

    def describe(changes: list[Change]) -> list[str]:
        lines = []
        for change in changes:
            for leaf in leaves(change):
                parts = segments(leaf.path)[0 if keep_head else 1 :]
                words = [labels.get(part, part.replace("_", " ")) for part in parts]
                label = " ".join(word for word in words if word) or "Settings"
                lines.append(field_sentence(label[:1].upper() + label[1:], leaf))
        return lines

    return describe


_TOOL_PARTS = {
    "description": "description",
    "properties": "arguments",
    "required": "required arguments",
    "actions": "actions",
    "actions_on_error": "error actions",
    "output": "output",
    "name": "name",
}


def _tools(changes: list[Change]) -> list[str]:
    lines: list[str] = []
    changed_parts: dict[str, list[str]] = {}  # tool name → readable parts, in order
    expanded: list[Change] = []
    for change in changes:
        parts = segments(change.path)
        if parts == ["tools"]:
            expanded.extend(by_key(change, "name"))
        else:
            expanded.append(change)
    for change in expanded:
        parts = segments(change.path)
        if parts[0] == "max_tool_steps":
            lines.append(field_sentence("Tool calls allowed per turn", change))
            continue
        name = parts[1] if len(parts) > 1 else "?"
        if len(parts) == 2 and change.before is None:
            description = (
                change.after.get("description") if isinstance(change.after, dict) else None
            )
            lines.append(
                f'Added the tool "{name}"'
                + (f": {_sentence(one_line(description, 120))}" if description else ".")
            )
        elif len(parts) == 2 and change.after is None:
            lines.append(f'Removed the tool "{name}".')
        else:
            found = changed_parts.setdefault(name, [])
            for leaf in leaves(change):
                sub = segments(leaf.path)[2:]
                label = _TOOL_PARTS.get(sub[0], sub[0].replace("_", " ")) if sub else "definition"
                if sub[:1] == ["properties"] and len(sub) > 1:
                    label = f"argument {sub[1]} {leaf.op}"
                if label not in found:
                    found.append(label)
    lines.extend(
        f'Changed the tool "{name}": {", ".join(parts)}.' for name, parts in changed_parts.items()
    )
    return lines


def _knowledge_bases(changes: list[Change]) -> list[str]:
    lines = []
    for change in changes:
        items = (
            list(by_key(change, "collection_id"))
            if segments(change.path) == ["knowledge_bases"]
            else [change]
        )
        for item in items:
            parts = segments(item.path)
            collection = parts[1] if len(parts) > 1 else "?"
            if len(parts) == 2 and item.before is None:
                top_n = item.after.get("top_n") if isinstance(item.after, dict) else None
                suffix = f" ({top_n} passages per turn)." if top_n else "."
                lines.append(f"Attached the knowledge collection {collection}{suffix}")
            elif len(parts) == 2 and item.after is None:
                lines.append(f"Detached the knowledge collection {collection}.")
            else:
                for leaf in leaves(item):
                    label = (
                        "passages per turn"
                        if leaf.path.endswith("top_n")
                        else ".".join(segments(leaf.path)[2:]) or "settings"
                    )
                    lines.append(field_sentence(f"Collection {collection}: {label}", leaf))
    return lines


_CHANNEL_FIELDS = {
    "instructions_mode": "instructions mode",
    "starting_message": "starting message",
    "max_tool_steps": "tool calls allowed per turn",
}


def _channel_overrides(changes: list[Change]) -> list[str]:
    lines = []
    for channel, change in (pair for item in changes for pair in _per_channel(item)):
        whole = len(segments(change.path)) <= 2
        if whole and change.after is None:
            lines.append(f"{channel}: override removed; this channel now uses the base config.")
        elif whole and change.before is None:
            lines.append(f"{channel}: override added.")
            for leaf in leaves(Change(change.path, "changed", {}, change.after)):
                lines.extend(_channel_leaf(channel, leaf))
        else:
            for leaf in leaves(change):
                lines.extend(_channel_leaf(channel, leaf))
    return lines


def _per_channel(change: Change) -> list[tuple[str, Change]]:
    """`(channel, change)` pairs: a change on all of `channel_overrides` is split by channel."""
    parts = segments(change.path)
    if len(parts) > 1:
        return [(parts[1], change)]
    old, new = change.before, change.after
    if not isinstance(old, dict | None) or not isinstance(new, dict | None):
        return [("all channels", change)]
    old, new = old or {}, new or {}
    return [
        (
            channel,
            Change(f"channel_overrides.{channel}", "changed", old.get(channel), new.get(channel)),
        )
        for channel in [*old, *(key for key in new if key not in old)]
        if old.get(channel) != new.get(channel)
    ]


def _channel_leaf(channel: str, leaf: Change) -> list[str]:
    field_name = segments(leaf.path)[-1]
    if field_name == "instructions":
        lines = text_lines(leaf, what="instructions")
        return [f"{channel}: {line[:1].lower()}{line[1:]}" for line in lines]
    label = _CHANNEL_FIELDS.get(field_name, field_name.replace("_", " "))
    return [f"{channel}: {field_sentence(label, leaf)}"]


def _workflows(changes: list[Change]) -> list[str]:
    lines = []
    for change in changes:
        parts = segments(change.path)
        when = "Pre-conversation" if parts[0].startswith("pre") else "Post-conversation"
        if len(parts) == 1 and change.after is None:
            lines.append(f"{when} workflow removed.")
        elif len(parts) == 1 and change.before is None:
            lines.append(f"{when} workflow added: {_workflow_target(change.after)}.")
        else:
            for leaf in leaves(change):
                label = " ".join(segments(leaf.path)[1:]).replace("_", " ")
                lines.append(f"{when} workflow: {field_sentence(label, leaf)}")
    return lines


def _workflow_target(value: Any) -> str:
    if not isinstance(value, dict):
        return show(value)
    if value.get("workflow_id"):
        return f'runs the workflow "{value["workflow_id"]}"'
    return f"calls {value.get('method', 'POST')} {value.get('url')}"


def _other(changes: list[Change]) -> list[str]:
    return [
        field_sentence(leaf.path or "The config", leaf)
        for change in changes
        for leaf in leaves(change)
    ]


_CALL_HANDLING = _fields(
    keep_head=True,
    labels={
        "noise_cancellation": "noise cancellation",
        "recording": "recording",
        "enabled": "",
        "end_call": "",
        "max_duration_seconds": "maximum conversation length (seconds)",
        "silence_timeout_seconds": "silence timeout (seconds)",
        "end_phrases": "end phrases",
        "retention_days": "retention (days)",
    },
)

# (title, path prefixes, describer), in the order the summary presents them.
AREAS: list[tuple[str, tuple[str, ...], Callable[[list[Change]], list[str]]]] = [
    ("Instructions", ("instructions",), _instructions),
    ("Starting message", ("starting_message",), _starting_message),
    ("Voice", ("voice",), _fields({"voice_id": "voice", "speed": "speaking speed"})),
    ("LLM", ("llm",), _fields({"model": "model", "max_tokens": "max tokens per reply"})),
    ("Speech-to-text", ("stt",), _fields({})),
    ("Tools", ("tools", "max_tool_steps"), _tools),
    ("Knowledge bases", ("knowledge_bases",), _knowledge_bases),
    ("Channel overrides", ("channel_overrides",), _channel_overrides),
    ("Workflows", ("pre_conversation_workflow", "post_conversation_workflow"), _workflows),
    ("Call handling", ("recording", "noise_cancellation", "end_call"), _CALL_HANDLING),
]


def area_of(change: Change) -> str:
    parts = segments(change.path)
    head = parts[0] if parts else ""
    for title, prefixes, _ in AREAS:
        if head in prefixes:
            return title
    return "Other settings"


def summary_chunks(changes: list[Change], *, from_version: int, to_version: int) -> Iterator[str]:
    """The summary as a heading chunk, then one chunk per area that changed."""
    if not changes:
        yield NO_DIFFERENCES
        return
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(area_of(change), []).append(change)
    yield (
        f"Changes from version {from_version} to version {to_version} "
        f"({plural(len(changes), 'change')}):\n"
    )
    describers = [(title, describe) for title, _, describe in AREAS]
    describers.append(("Other settings", _other))
    for title, describe in describers:
        if title in grouped:
            lines = describe(grouped[title]) or ["Changed."]
            yield f"\n{title}:\n" + "".join(f"- {line}\n" for line in lines)

"""Structured diff of two AgentConfigs (SPEC §4: `versions/diff`, and the input of `compare`).

Works on JSON-mode config dicts as stored (`AgentConfig.model_dump(mode="json")`) and never
validates them, so a config stored under an older schema still diffs. The rules:

- **Missing keys.** A missing top-level key means the model's default (`{}` is a valid config and
  means the default config); a missing key anywhere deeper is treated as null.
- **Equal values** produce nothing, so `diff_configs(x, x) == []`.
- **Objects** (JSON objects on both sides) are recursed into: `llm.temperature`,
  `channel_overrides.telephone.instructions_mode`, `tools[t].properties.order_id.type`.
- **Null ↔ object.** An object that appears where there was null (or nothing) is one `added`
  change holding the whole object as `after`; the reverse is one `removed` holding it as `before`.
- **Everything else is `changed`**, with the full values on both sides: scalars (also null ↔ value,
  e.g. `starting_message` or `llm.max_tokens`; `instructions` is one change with both full texts),
  plain lists as whole values (`end_call.end_phrases`, `tools[t].required`, `tools[t].actions`),
  and an object replaced by a non-object or the reverse.
- **Keyed lists.** `tools` (keyed by `name`) and `knowledge_bases` (keyed by `collection_id`) are
  diffed as if they were objects from key to item: `tools[<name>]` is `added`/`removed` as a
  whole, and an item on both sides is recursed into (`knowledge_bases[<id>].top_n`). A renamed
  tool is therefore a removal plus an addition. Moving items without changing them is not a change
  (names and collections are unique, and their order means nothing to the runtime). A list that
  cannot be keyed (an item without its key, or a key twice) falls back to one whole-list `changed`;
  a null list counts as empty.
- **Order** is deterministic: top-level fields in AgentConfig's field order (then unknown keys);
  inside an object, its keys in `before` order, then the keys only `after` has, in `after` order;
  a keyed list likewise by key: items of `before` in their order (each removed or changed in place),
  then the added ones in `after` order. Stored configs are model dumps, so this is model order.

`before`/`after` in each change are copies, never the caller's objects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from functools import cache
from typing import Any

from callplane.agent_config.changes import Change, Op
from callplane.agent_config.schemas import AgentConfig, default_config

# Top-level lists of named things, and the field that names their items.
KEYED_LISTS: dict[str, str] = {"tools": "name", "knowledge_bases": "collection_id"}


def diff_configs(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every difference between two configs, in the deterministic order the module describes."""
    defaults = _defaults()
    changes: list[Change] = []
    for key in _ordered_keys(list(AgentConfig.model_fields), before, after):
        old = before.get(key, defaults.get(key))
        new = after.get(key, defaults.get(key))
        if key in KEYED_LISTS:
            changes.extend(_diff_keyed_list(key, KEYED_LISTS[key], old, new))
        else:
            changes.extend(_diff_value(key, old, new))
    return changes


@cache
def _defaults() -> dict[str, Any]:
    """The default config, built once; only read (values are copied before they leave)."""
    return default_config()


def _ordered_keys(*sources: Any) -> list[Any]:
    """Keys of each source in turn (a dict's keys, or a list's items), each key once."""
    seen: dict[Any, None] = {}
    for source in sources:
        for key in source:
            seen.setdefault(key, None)
    return list(seen)


def _change(path: str, op: Op, before: Any, after: Any) -> Change:
    return Change(path=path, op=op, before=copy.deepcopy(before), after=copy.deepcopy(after))


def _diff_value(path: str, before: Any, after: Any) -> Iterator[Change]:
    if before == after:
        return
    if isinstance(before, dict) and isinstance(after, dict):
        yield from _diff_object(path, before, after)
    elif before is None and isinstance(after, dict):
        yield _change(path, "added", None, after)
    elif isinstance(before, dict) and after is None:
        yield _change(path, "removed", before, None)
    else:
        yield _change(path, "changed", before, after)


def _diff_object(path: str, before: dict[str, Any], after: dict[str, Any]) -> Iterator[Change]:
    for key in _ordered_keys(before, after):
        yield from _diff_value(f"{path}.{key}", before.get(key), after.get(key))


def _diff_keyed_list(path: str, key_field: str, before: Any, after: Any) -> Iterator[Change]:
    if before == after:
        return
    old_items = _by_key(before, key_field)
    new_items = _by_key(after, key_field)
    if old_items is None or new_items is None:
        yield _change(path, "changed", before, after)
        return
    for key in _ordered_keys(old_items, new_items):
        item_path = f"{path}[{key}]"
        if key not in new_items:
            yield _change(item_path, "removed", old_items[key], None)
        elif key not in old_items:
            yield _change(item_path, "added", None, new_items[key])
        else:
            yield from _diff_object(item_path, old_items[key], new_items[key])


def _by_key(items: Any, key_field: str) -> dict[str, dict[str, Any]] | None:
    """`items` as {key: item} in list order; None when it cannot be keyed. Null counts as []."""
    if items is None:
        return {}
    if not isinstance(items, list):
        return None
    keyed: dict[str, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict) or item.get(key_field) is None:
            return None
        key = str(item[key_field])
        if key in keyed:
            return None
        keyed[key] = item
    return keyed

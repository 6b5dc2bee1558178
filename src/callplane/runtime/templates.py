"""`{{name}}` templates (SPEC §10): Mustache-style placeholders, no logic, no code.

Names come from the tool call's arguments (in actions), the conversation's variables and a few
built-ins (`conversation.id`, `agent.id`, `caller.phone_number`). A dotted name is looked up as
written first, then path by path through nested objects (`{{response.temperature}}`). How a
value is written depends on where it goes: as text, percent-encoded in a URL, or as a JSON value
in a JSON body (`"{{count}}"` alone in a string becomes the number itself).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*\}\}")
_MISSING = object()


class UnknownName(Exception):
    """A placeholder names nothing known."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        super().__init__("Unknown template name(s): " + ", ".join(names))


def names_in(text: str) -> list[str]:
    return list(dict.fromkeys(PLACEHOLDER.findall(text)))


def lookup(values: Mapping[str, Any], name: str) -> Any:
    if name in values:
        return values[name]
    current: Any = values
    for part in name.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def unknown_names(text: str, values: Mapping[str, Any]) -> list[str]:
    return [name for name in names_in(text) if lookup(values, name) is _MISSING]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def render(text: str, values: Mapping[str, Any], *, url: bool = False) -> str:
    """`text` with every placeholder replaced (percent-encoded when `url`); raises UnknownName."""
    missing = unknown_names(text, values)
    if missing:
        raise UnknownName(missing)

    def value(match: re.Match[str]) -> str:
        rendered = _as_text(lookup(values, match.group(1)))
        return quote(rendered, safe="") if url else rendered

    return PLACEHOLDER.sub(value, text)


def render_json(body: Any, values: Mapping[str, Any]) -> Any:
    """A JSON body with its strings rendered; a string that is one placeholder becomes the value
    itself (a number stays a number)."""
    if isinstance(body, str):
        whole = PLACEHOLDER.fullmatch(body.strip())
        if whole is not None:
            found = lookup(values, whole.group(1))
            if found is _MISSING:
                raise UnknownName([whole.group(1)])
            return found
        return render(body, values)
    if isinstance(body, dict):
        return {key: render_json(item, values) for key, item in body.items()}
    if isinstance(body, list):
        return [render_json(item, values) for item in body]
    return body

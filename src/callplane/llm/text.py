"""Small text helpers shared by the template writer, the change summary and the prompts."""

from __future__ import annotations

import re

# A list marker at the start of a line: "-", "*", "•", "1.", "2)", "Step 3:".
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|[0-9]{1,3}[.)]|step\s+[0-9]{1,3}[.:)]?)\s+", re.I)
_HEADING_MARKER = re.compile(r"^\s*#{1,6}\s+")
# A sentence ends at . ! or ? followed by space and something that does not look like the
# continuation of an abbreviation ("e.g. this" stays whole).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[^a-z])")
_SPACES = re.compile(r"\s+")


def clean(text: str | None) -> str:
    """Stripped text, or "" for None."""
    return (text or "").strip()


def one_line(text: str | None, limit: int) -> str:
    """Whitespace collapsed to single spaces and cut to `limit` characters with an ellipsis."""
    flat = _SPACES.sub(" ", clean(text))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def strip_marker(line: str) -> str:
    """A line without its list bullet, number or Markdown heading marker."""
    return _LIST_MARKER.sub("", _HEADING_MARKER.sub("", line), count=1).strip()


def steps(text: str) -> list[str]:
    """Numbered-step candidates: one per line, or one per sentence when it is a single line."""
    lines = [strip_marker(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) == 1:
        return sentences(lines[0])
    return lines


def sentences(text: str) -> list[str]:
    """Sentences of a text, line by line, without list markers and with whitespace collapsed.

    Used to compare instructions: a reflowed paragraph yields the same sentences.
    """
    result: list[str] = []
    for line in text.splitlines():
        line = strip_marker(line)
        if not line:
            continue
        result.extend(_SPACES.sub(" ", part).strip() for part in _SENTENCE_END.split(line))
    return [sentence for sentence in result if sentence]


def quote(text: str, limit: int = 160) -> str:
    """Text in double quotes, on one line, cut to `limit` characters."""
    return f'"{one_line(text, limit)}"'

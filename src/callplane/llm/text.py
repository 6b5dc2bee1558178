"""Small text helpers shared by the template writer, the change summary and the prompts."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

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


@dataclass
class TextDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)


def sentence_diff(before: str, after: str) -> TextDiff:
    """Which sentences were added and removed, comparing the texts sentence by sentence."""
    old, new = sentences(before), sentences(after)
    diff = TextDiff()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            diff.removed.extend(old[i1:i2])
        if tag in ("insert", "replace"):
            diff.added.extend(new[j1:j2])
    moved = set(diff.added) & set(diff.removed)
    diff.moved = [sentence for sentence in diff.added if sentence in moved]
    diff.added = [sentence for sentence in diff.added if sentence not in moved]
    diff.removed = [sentence for sentence in diff.removed if sentence not in moved]
    return diff

"""Cutting a document into passages for search, when the document is written.

A passage is what search returns and what an agent's prompt receives, so it should be a readable
piece of the text of a bounded size: lines (paragraphs, list items, the lines a crawled page is
made of) are packed together up to `MAX_CHARS`; a line longer than that is cut between
sentences, a sentence longer than that between words, and a word longer than that anywhere.
Passages do not overlap: a fact is in exactly one passage, so a document's passages add up to its
text (whitespace aside).

Pure functions: the migration that backfilled existing documents used the same cut.
"""

from __future__ import annotations

import re

MAX_CHARS = 1000  # about 200-250 tokens of English: a few of them fit any prompt
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f])\s+")
_SPACES = re.compile(r"[ \t\f\v\r\u00a0]+")


def chunk_text(text: str, *, max_chars: int = MAX_CHARS) -> list[str]:
    """The passages of `text`, in order; none for a text of whitespace only."""
    pieces: list[tuple[str, str]] = []  # (piece, the separator that goes before it)
    for line in text.split("\n"):
        line = _SPACES.sub(" ", line).strip()
        if not line:
            continue
        parts = _split_long(line, max_chars)
        pieces.append((parts[0], "\n"))
        pieces.extend((part, " ") for part in parts[1:])
    chunks: list[str] = []
    current = ""
    for piece, separator in pieces:
        if not current:
            current = piece
        elif len(current) + len(separator) + len(piece) <= max_chars:
            current = f"{current}{separator}{piece}"
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _split_long(line: str, max_chars: int) -> list[str]:
    """`line` as pieces of at most `max_chars`, cut between sentences, else words, else anywhere."""
    if len(line) <= max_chars:
        return [line]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(line):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        for word in sentence.split(" "):
            while len(word) > max_chars:
                pieces.append(word[:max_chars])
                word = word[max_chars:]
            if word:
                pieces.append(word)
    # Re-pack the words and sentences of this line up to the limit.
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= max_chars:
            packed[-1] = f"{packed[-1]} {piece}"
        else:
            packed.append(piece)
    return packed

"""Server-Sent Events read incrementally from text chunks (a turn's `event:`/`data:` frames)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any


class SSEDecoder:
    """Feed text chunks as they arrive; get whole events `(name, data)` out.

    Frames end with a blank line; `data:` lines are joined with newlines and read as JSON (the
    API sends one JSON object per event); comments (`:`) and unknown fields are skipped."""

    def __init__(self) -> None:
        self._buffer = ""
        self._raw = ""  # a chunk's trailing `\r`, until the next says whether `\n` follows

    def feed(self, chunk: str) -> list[tuple[str, Any]]:
        raw = self._raw + chunk
        self._raw = "\r" if raw.endswith("\r") else ""
        if self._raw:
            raw = raw[:-1]
        self._buffer += raw.replace("\r\n", "\n").replace("\r", "\n")
        frames = self._buffer.split("\n\n")
        self._buffer = frames.pop()
        return [event for frame in frames if (event := _frame(frame)) is not None]

    def close(self) -> list[tuple[str, Any]]:
        """What a stream that ended without a final blank line left (normally nothing)."""
        rest, self._buffer, self._raw = self._buffer, "", ""
        event = _frame(rest)
        return [] if event is None else [event]


def _frame(frame: str) -> tuple[str, Any] | None:
    name = "message"
    data: list[str] = []
    for line in frame.split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if not data:
        return None
    text = "\n".join(data)
    try:
        return name, json.loads(text)
    except ValueError:
        return name, text


def events(chunks: Iterable[str]) -> Iterator[tuple[str, Any]]:
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.close()


async def aevents(chunks: AsyncIterator[str]) -> AsyncIterator[tuple[str, Any]]:
    decoder = SSEDecoder()
    async for chunk in chunks:
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():
        yield event

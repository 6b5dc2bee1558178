"""The offline responder: what answers when no language model is configured.

It never pretends to be a model: every reply says it is the offline responder (and `done`
carries `model: "offline"`), quotes the best knowledge passages with their source, and otherwise
points at the agent's starting message. It calls no tools.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from callplane.runtime.events import Passage

PREFIX = "[Offline responder: no language model is configured on this server.]"
EXCERPT_CHARS = 400
PASSAGES_QUOTED = 2


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS].rsplit(" ", 1)[0]
    return f"{cut}…"


def answer(
    content: str, passages: Sequence[Passage], starting_message: str | None
) -> Iterator[str]:
    """The reply, in pieces (so it streams like a model's)."""
    yield PREFIX
    if passages:
        yield " Here is what this agent's knowledge base says that looks closest to your message:"
        for passage in passages[:PASSAGES_QUOTED]:
            source = " — ".join(part for part in (passage.title, passage.url) if part)
            yield f"\n\n{_excerpt(passage.text)}"
            if source:
                yield f"\n(Source: {source})"
        return
    yield " I found nothing in this agent's knowledge base about that."
    if starting_message:
        yield f' The agent\'s greeting is: "{starting_message}"'

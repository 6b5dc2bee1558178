"""Wording helpers for what people read (CLI output, plans)."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 agent`, `0 agents`, `2 agents` (`many` for irregular nouns)."""
    return f"{count} {noun if count == 1 else (many or noun + 's')}"

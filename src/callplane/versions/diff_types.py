"""The unit of a structured config diff, shared by the diff engine and the summary writers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Op = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    """One difference between two AgentConfigs.

    `path` is dotted, with list items of named things addressed by name, e.g. `instructions`,
    `voice.voice_id`, `tools[lookup_order].description`, `knowledge_bases[<collection_id>]`,
    `channel_overrides.telephone.instructions`. `before`/`after` are JSON values (None when absent).
    """

    path: str
    op: Op
    before: Any
    after: Any

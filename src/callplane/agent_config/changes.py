"""The unit of a structured diff between two AgentConfigs: vocabulary shared by the diff engine
(versions), the change summaries (versions, the model writer) and agents-as-code plans."""

from __future__ import annotations

import re
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


_SEGMENT = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def segments(path: str) -> list[str]:
    """`tools[lookup_order].description` → `["tools", "lookup_order", "description"]`."""
    return [key if key is not None and name == "" else name for key, name in _SEGMENT.findall(path)]

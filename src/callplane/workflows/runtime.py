"""What workflow steps need from the process they run in (set once when the engine launches)."""

from __future__ import annotations

from dataclasses import dataclass

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.llm import Writer


@dataclass
class Runtime:
    settings: Settings
    database: Database
    writer: Writer


_runtime: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    _runtime = runtime


def runtime() -> Runtime:
    if _runtime is None:
        raise RuntimeError("workflow runtime not configured in this process")
    return _runtime

"""Every workflow type, imported so the engine knows them all before it launches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from callplane.scaffolding import workflow as scaffolding
from callplane.versions import generation

WORKFLOWS: dict[str, Callable[..., Awaitable[Any]]] = {
    generation.TYPE: generation.generate_instructions,
    scaffolding.FROM_WEBSITE: scaffolding.create_from_website,
    scaffolding.DEMO: scaffolding.create_demo,
}

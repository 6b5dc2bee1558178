"""The `callplane` command run in this process (Typer's CliRunner): its output and exit code as
a user sees them, without the second a process start costs.

The environment is the runner's: only `env` (and none of this process's CALLPLANE_ variables)
reaches the command, and the command's cached settings are built from it and dropped afterwards.
Call it from a worker thread (`asyncio.to_thread`) when the test's event loop must keep running,
e.g. when the command reaches the in-process app (`tests.support.bridge`) or runs `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from callplane.config import get_settings


def invoke(args: list[str], env: dict[str, str], input: str | None = None) -> Result:
    """`callplane *args` in this process with exactly `env` as its CALLPLANE_ variables."""
    from callplane.cli import app

    isolated: dict[str, str | None] = {k: None for k in os.environ if k.startswith("CALLPLANE_")}
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, args, env=isolated | env, input=input)
    finally:
        get_settings.cache_clear()


@dataclass
class Cli:
    """`callplane …` in-process with `env`, from async tests; `expect` is the exit code."""

    env: dict[str, str] = field(default_factory=dict)

    async def __call__(self, *args: str, expect: int = 0, input: str | None = None) -> Result:
        result = await asyncio.to_thread(invoke, list(args), self.env, input)
        assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
        return result

    async def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads((await self(*args, "--json", input=input)).stdout)

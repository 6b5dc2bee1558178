"""The SDK and the CLI against the app: `cli` in-process (no process start); `server_url`
(tests/conftest.py) a real `callplane serve` for what needs real sockets: retries of a real
transport, streaming, the installed command."""

from __future__ import annotations

import httpx
import pytest

from tests.conversations.conftest import live_runtime, llm  # noqa: F401 (fixtures: a scripted model)
from tests.factories import Tenant
from tests.support.bridge import IN_PROCESS_URL, route_to_app
from tests.support.cli import Cli


@pytest.fixture
async def cli(
    app_client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> Cli:
    """The CLI as `tenant`, in-process (see `route_to_app`)."""
    route_to_app(app_client, monkeypatch)
    return Cli({"CALLPLANE_URL": IN_PROCESS_URL, "CALLPLANE_API_KEY": tenant.api_key})

"""The populated tenant every hostile test attacks, and a real server for what only a real HTTP
stack shows (header limits)."""

from __future__ import annotations

import pytest

from tests.client.conftest import server_url  # noqa: F401  (a real `callplane serve`)
from tests.factories import Tenant
from tests.hostile.world import World, build_world


@pytest.fixture
async def world(tenant: Tenant) -> World:
    return await build_world(tenant)

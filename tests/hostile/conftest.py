"""The populated tenant every hostile test attacks (a real server for what only a real HTTP stack
shows, header limits, is the suite's `server_url`)."""

from __future__ import annotations

import pytest

from tests.factories import Tenant
from tests.hostile.world import World, build_world


@pytest.fixture
async def world(tenant: Tenant) -> World:
    return await build_world(tenant)

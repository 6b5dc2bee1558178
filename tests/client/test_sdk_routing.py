"""`routing.resolve` in the SDK (sync through the in-process bridge, async on the ASGI app):
typed answers, revalidation returning the cached answer itself, NotFound and ValidationFailed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from callplane.client import AsyncClient, Client, NotFound, ValidationFailed
from callplane.routing.schemas import ResolvedRoute
from tests.factories import Tenant
from tests.support.bridge import IN_PROCESS_URL, AppBridge


@pytest.fixture
async def sdk(app_client: httpx.AsyncClient, tenant: Tenant) -> AsyncIterator[AsyncClient]:
    transport = httpx.ASGITransport(app=app_client.app)  # type: ignore[attr-defined]
    async with AsyncClient(IN_PROCESS_URL, tenant.api_key, transport=transport) as client:
        yield client


async def published_number(tenant: Tenant) -> tuple[str, str]:
    agent = await tenant.create_agent(name="Reception")
    config = {
        "instructions": "Greet callers.",
        "channel_overrides": {"telephone": {"starting_message": "Reception, hello."}},
    }
    await tenant.create_version(agent["id"], config=config)
    number = await tenant.register_number()
    response = await tenant.publish(agent["id"], 1, phone_numbers=[number], direction="both")
    assert response.status_code == 200, response.text
    return agent["id"], number


async def test_async_resolve_and_revalidate(sdk: AsyncClient, tenant: Tenant) -> None:
    agent_id, number = await published_number(tenant)
    route = await sdk.routing.resolve(phone_number=number)  # `+` encoded by the SDK
    assert isinstance(route, ResolvedRoute)
    assert (str(route.agent.id), route.agent.name, route.slot) == (agent_id, "Reception", "inbound")
    assert route.config["starting_message"] == "Reception, hello."
    assert await sdk.routing.resolve(phone_number=number, cached=route) is route
    outbound = await sdk.routing.resolve(phone_number=number, direction="outbound", cached=route)
    assert outbound is not route and outbound.slot == "outbound"  # another ETag: a fresh answer

    await tenant.create_version(agent_id, config={"instructions": "Version two."})
    assert (await tenant.publish(agent_id, 2, phone_numbers=[number])).status_code == 200
    fresh = await sdk.routing.resolve(phone_number=number, cached=route)
    assert fresh is not route and fresh.version.version == 2 and fresh.etag != route.etag

    with pytest.raises(NotFound) as missing:
        await sdk.routing.resolve(sip_uri=f"sip:{agent_id}@sip.test.local")  # not deployed
    assert missing.value.code == "route_not_found"
    with pytest.raises(ValidationFailed):
        await sdk.routing.resolve()


async def test_sync_resolve_a_sip_uri(app_client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent_id, _ = await published_number(tenant)
    deployed = await tenant.post(f"/core/agents/{agent_id}/deploy-as-sip")
    sip_uri = deployed.json()["sip_uri"]
    bridge = AppBridge(app_client.app, asyncio.get_running_loop())  # type: ignore[attr-defined]

    def resolve_twice() -> tuple[ResolvedRoute, ResolvedRoute]:
        with Client(IN_PROCESS_URL, tenant.api_key, transport=bridge) as client:
            route = client.routing.resolve(sip_uri=sip_uri)
            return route, client.routing.resolve(sip_uri=sip_uri, cached=route)

    route, again = await asyncio.to_thread(resolve_twice)
    assert route.slot is None and str(route.agent.id) == agent_id and again is route

"""Fixtures for the API fuzz test: a tenant with real resources, a local site to crawl, and a
guard that keeps whatever the app does with fuzzed URLs on this machine."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from callplane.db.engine import Database
from callplane.models import KnowledgeCollection
from tests.crawler.site import LocalSite, Route
from tests.factories import Tenant, TenantFactory
from tests.scaffolding.conftest import dental_site


def _is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> Iterator[None]:
    """The fuzzer invents URLs and the app fetches some of them (crawls; deliveries it may retry
    long after the test that caused them), and the test settings let it reach private networks.
    So from the first fuzz test to the end of the session, no connection and no name lookup
    leaves this machine: they fail as an unreachable host would."""
    connect = socket.socket.connect
    getaddrinfo = socket.getaddrinfo

    def loopback_connect(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise ConnectionRefusedError(f"fuzz tests stay on loopback, not {address[0]}")
        connect(sock, address)

    def local_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "localhost") and not _is_loopback(name):
            raise socket.gaierror(socket.EAI_NONAME, f"fuzz tests do not resolve {name!r}")
        return getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", loopback_connect)
        patch.setattr(socket, "getaddrinfo", local_getaddrinfo)
        yield


@dataclass
class Seeded:
    """A tenant and the ids of real resources in it, by the path parameter that names them."""

    tenant: Tenant
    path_values: dict[str, Any]


@pytest.fixture
async def seeded(tenants: TenantFactory, database: Database) -> Seeded:
    """A fresh organization holding one of everything a path parameter can name."""
    tenant = await tenants.create()
    # Nothing listens on port 9: its one delivery (of agent.created) fails; deactivated below.
    webhook = await tenant.post(
        "/core/webhooks", json={"url": "http://127.0.0.1:9/", "events": ["agent.created"]}
    )
    assert webhook.status_code == 201, webhook.text
    webhook_id = webhook.json()["id"]
    agent, version = await tenant.published_agent()
    listed = await tenant.get(f"/core/webhooks/{webhook_id}/deliveries")
    [delivery] = listed.json()["data"]
    assert (
        await tenant.patch(f"/core/webhooks/{webhook_id}", json={"active": False})
    ).status_code == 200
    draft = await tenant.create_version(
        agent["id"], config={}, instruction_builder_inputs={"company_name": "Acme"}
    )
    generation = await tenant.post(
        f"/core/agents/{agent['id']}/versions/{draft['version']}/generate-instructions"
    )
    assert generation.status_code == 202, generation.text
    async with database.session(write=True) as session, session.begin():
        collection = KnowledgeCollection(organization_id=tenant.organization_id, name="Docs")
        session.add(collection)
    number = await tenant.register_number(label="Main line")
    widget = await tenant.post(
        "/core/web-widgets",
        json={"agent_id": agent["id"], "agent_version_id": version["id"], "published": True},
    )
    assert widget.status_code == 201, widget.text
    imported = await tenant.post(
        "/core/conversations/import",
        json={
            "conversations": [{"agent_id": agent["id"], "channel": "text", "status": "completed"}]
        },
    )
    assert imported.status_code == 201, imported.text
    # No `key_id`: a fuzzed DELETE would revoke the key the fuzzer itself authenticates with.
    return Seeded(
        tenant,
        {
            "agent_id": agent["id"],
            "version": version["version"],
            "phone_number": number,
            "widget_id": widget.json()["id"],
            "conversation_id": imported.json()["ids"][0],
            "workflow_id": generation.json()["workflow_id"],
            "collection_id": str(collection.id),
            "webhook_id": webhook_id,
            "delivery_id": delivery["id"],
        },
    )


@pytest.fixture
def website(serve: Callable[[dict[str, Route]], LocalSite]) -> str:
    """A site on 127.0.0.1 that every accepted `company_website` is pointed at."""
    return serve(dental_site()).url

"""What is knowable at request time about the website is refused then (422), not by a workflow
that fails later: addresses the SSRF guard refuses, names that do not resolve. Nothing is created
on refusal. The workflow still checks every hop (tests/crawler/test_guard.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from callplane.config import Settings
from callplane.crawler import BlockedAddress, PrivateAddress, SiteUnreachable
from callplane.crawler.guard import SystemResolver, check_start
from tests.apps import another_app
from tests.factories import Tenant
from tests.support.site import FakeResolver

PATHS = ["/core/agents/create-from-website", "/core/agents/create-demo"]
ALLOW = (
    "Set CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS=true on the server to allow private networks "
    "(never in production)."
)


def body(path: str, website: str) -> dict[str, str]:
    if path.endswith("create-demo"):
        return {"company_website": website}
    return {"company_name": "Acme", "company_website": website}


async def no_runs(tenant: Tenant) -> None:
    assert (await tenant.get("/core/workflows")).json()["data"] == []
    assert (await tenant.get("/core/agents")).json()["data"] == []


@pytest.mark.parametrize("path", PATHS)
async def test_private_addresses_are_422_when_private_networks_are_not_allowed(
    settings: Settings, tenant: Tenant, path: str
) -> None:
    async with another_app(settings, crawler_allow_private_networks=False) as client:
        for website, detail in [
            (
                "http://10.0.0.5:8080/",
                "company_website: Refusing to connect to 10.0.0.5: it is a private address "
                f"(private networks are not allowed). {ALLOW}",
            ),
            (
                "http://localhost:9/",  # resolved by the system: no address in the answer
                "company_website: Refusing to connect to localhost: it resolves to an address "
                f"that is not public (private networks are not allowed). {ALLOW}",
            ),
            (
                "http://[::ffff:169.254.169.254]/",
                "company_website: Refusing to connect to ::ffff:a9fe:a9fe: it is a link-local "
                "(embedded 169.254.169.254) address (private networks are not allowed). "
                f"{ALLOW}",
            ),
        ]:
            response = await client.post(path, json=body(path, website), headers=tenant.headers)
            assert response.status_code == 422, response.text
            assert response.json() == {"detail": detail, "code": "website_blocked"}
    await no_runs(tenant)


@pytest.mark.parametrize("path", PATHS)
async def test_a_name_that_does_not_resolve_is_422(
    tenant: Tenant, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def nothing(self: SystemResolver, host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(SystemResolver, "resolve", nothing)
    response = await tenant.post(path, json=body(path, "https://nowhere.example"))
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": (
            "company_website: Could not resolve nowhere.example: "
            "[Errno -2] Name or service not known."
        ),
        "code": "website_unresolvable",
    }
    await no_runs(tenant)


@pytest.mark.parametrize("path", PATHS)
async def test_a_host_the_crawler_cannot_parse_is_422(tenant: Tenant, path: str) -> None:
    response = await tenant.post(path, json=body(path, "https://-bad.example/"))
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": (
            "company_website: 'https://-bad.example/' cannot be crawled: "
            "'-bad.example' is not a valid host name"
        ),
        "code": "website_invalid",
    }
    await no_runs(tenant)


async def test_the_check_is_the_guards() -> None:
    resolver = FakeResolver({"shop.example": ["93.184.216.34"], "intranet.example": ["10.0.0.5"]})
    await check_start("shop.example", allow_private_networks=False, resolver=resolver)
    with pytest.raises(PrivateAddress):
        await check_start("intranet.example/about", allow_private_networks=False, resolver=resolver)
    await check_start("intranet.example", allow_private_networks=True, resolver=resolver)
    with pytest.raises(SiteUnreachable):
        await check_start("gone.example", allow_private_networks=True, resolver=resolver)
    bad_answer = FakeResolver({"odd.example": ["not-an-address"]})
    with pytest.raises(BlockedAddress) as refused:
        await check_start("odd.example", allow_private_networks=False, resolver=bad_answer)
    assert not isinstance(refused.value, PrivateAddress)  # no setting makes this one work


async def test_a_slow_lookup_is_left_to_the_workflow() -> None:
    """A lookup that does not answer in time proves nothing: the crawl, which retries, decides."""

    class Slow:
        async def resolve(self, host: str, port: int) -> list[str]:
            await asyncio.sleep(10)
            return ["10.0.0.5"]

    async with asyncio.timeout(2):
        await check_start(
            "slow.example", allow_private_networks=False, resolver=Slow(), timeout=0.05
        )


async def test_the_lookup_holds_no_database_lock(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The website is checked before the request touches the database: a write transaction
    (on SQLite, the database's write lock) must not wait on DNS."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(self: SystemResolver, host: str, port: int) -> list[str]:
        entered.set()
        await release.wait()
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(SystemResolver, "resolve", slow)
    existing = await tenant.create_agent()
    body = {"company_name": "Acme", "company_website": "https://slow.example"}
    pending = asyncio.create_task(
        tenant.post(
            "/core/agents/create-from-website", json={**body, "existing_agent_id": existing["id"]}
        )
    )
    await asyncio.wait_for(entered.wait(), timeout=5)
    during = await asyncio.wait_for(tenant.post("/core/agents", json={"name": "During"}), 1.5)
    assert during.status_code == 201
    release.set()
    assert (await pending).json()["code"] == "website_unresolvable"

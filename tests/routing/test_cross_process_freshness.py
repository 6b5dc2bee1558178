"""Issue 15's rule for resolve, attacked: nothing cached may serve a stale answer after a write by
any process. Two apps on one database (two processes: each its own engine, `ConfigCache` and
credentials cache) take turns writing; after every write both answer every address, revalidating
what they last answered (If-None-Match), and both are held to an uncached resolve of the
database (`service.resolve` without a cache): the same status, the same ETag, the same bytes, and
never a 304 for an answer that changed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from callplane.config import Settings
from callplane.routing import service
from callplane.routing.errors import NothingAnswers
from callplane.routing.service import ConfigCache, PhoneAddress, SipAddress
from tests.apps import another_app
from tests.factories import Tenant
from tests.routing.test_resolve_api import (
    PHONE_CONFIG,
    RESOLVE,
    SIP_DOMAIN,
    phone_query,
    sip_query,
)

Answer = tuple[str, bytes] | None  # (ETag, JSON) or nothing answers


async def _truth(tenant: Tenant, address: service.Address) -> Answer:
    """What the database says now, through no cache at all."""
    try:
        answer = await service.resolve(
            tenant.database, tenant.organization_id, address, SIP_DOMAIN, None
        )
    except NothingAnswers:
        return None
    return answer.etag, answer.document


class _Reader:
    """One process's view: the answers it last gave, revalidated on its next call."""

    def __init__(self, name: str, client: httpx.AsyncClient, tenant: Tenant):
        self.name = name
        self.client = client
        self.tenant = tenant
        self.held: dict[str, Answer] = {}

    async def check(self, query: str, truth: Answer, step: str) -> None:
        where = f"{self.name} after {step}: {query}"
        held = self.held.get(query)
        headers = {**self.tenant.headers, **({"If-None-Match": held[0]} if held else {})}
        response = await self.client.get(RESOLVE + query, headers=headers)
        if truth is None:
            assert response.status_code == 404, (where, response.status_code)
        elif response.status_code == 304:
            assert held == truth, f"{where}: 304 for a changed answer"
            assert response.headers["etag"] == truth[0], where
        else:
            assert response.status_code == 200, (where, response.text)
            assert (response.headers["etag"], response.content) == truth, where
        # Again, plain: now from this process's answer cache.
        again = await self.client.get(RESOLVE + query, headers=self.tenant.headers)
        if truth is None:
            assert again.status_code == 404, where
        else:
            assert (again.headers["etag"], again.content) == truth, where
        self.held[query] = truth


async def _send(
    client: httpx.AsyncClient, tenant: Tenant, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    response = await client.request(method, url, headers=tenant.headers, **kwargs)
    assert response.status_code < 300, (method, url, response.text)
    return response


async def test_every_write_through_either_app_is_answered_fresh_by_both(
    settings: Settings, tenant: Tenant
) -> None:
    async with another_app(settings) as other:
        await _walk(tenant, other)


async def test_the_same_with_a_real_server_process(server_url: str, tenant: Tenant) -> None:
    """The other app as a `callplane serve` of its own (another OS process, its own memory).
    It runs on the default SIP domain, not the suite's: its SIP answers are left out."""
    async with httpx.AsyncClient(base_url=server_url, timeout=10) as other:
        await _walk(tenant, other, sip=False)


async def _walk(tenant: Tenant, other: httpx.AsyncClient, *, sip: bool = True) -> None:
    """Writes through `tenant.client` and `other` in turn; after each, both answer every
    address as the database says."""
    first = await tenant.create_agent(name="Front desk")
    second = await tenant.create_agent(name="Collections")
    await tenant.create_version(first["id"], config=PHONE_CONFIG)
    await tenant.create_version(second["id"], config={"instructions": "Collect."})
    number, spare = await tenant.register_number(), await tenant.register_number()
    addresses: dict[str, service.Address] = {
        phone_query(number): PhoneAddress(number, "inbound"),
        phone_query(number, "outbound"): PhoneAddress(number, "outbound"),
        phone_query(spare, "inbound"): PhoneAddress(spare, "inbound"),
        sip_query(first["id"]): SipAddress(uuid.UUID(first["id"]), SIP_DOMAIN),
        sip_query(second["id"]): SipAddress(uuid.UUID(second["id"]), SIP_DOMAIN),
    }
    if not sip:
        addresses = {q: a for q, a in addresses.items() if isinstance(a, PhoneAddress)}
    a1, a2 = first["id"], second["id"]
    agents = "/core/agents"
    apps = (tenant.client, other)
    readers = [_Reader("this app", tenant.client, tenant), _Reader("other app", other, tenant)]
    # (step, writer: 0 this app, 1 the other, method, url, body)
    steps: list[tuple[str, int, str, str, dict[str, Any] | None]] = [
        ("publish v1 inbound", 0, "POST", f"{agents}/{a1}/versions/1/publish",
         {"phone_numbers": [number], "direction": "inbound"}),
        ("deploy SIP", 1, "POST", f"{agents}/{a1}/deploy-as-sip", None),
        ("new draft v2", 0, "POST", f"{agents}/{a1}/versions",
         {"config": {**PHONE_CONFIG, "instructions": "Two."}}),
        ("publish v2 outbound", 1, "POST", f"{agents}/{a1}/versions/2/publish",
         {"phone_numbers": [number], "direction": "outbound"}),
        ("rename", 0, "PUT", f"{agents}/{a1}", {"name": "Reception"}),
        ("deactivate", 1, "PUT", f"{agents}/{a1}", {"active": False}),
        ("republish v1 both", 0, "POST", f"{agents}/{a1}/versions/1/publish",
         {"phone_numbers": [number], "direction": "both"}),
        ("republish v1 again", 1, "POST", f"{agents}/{a1}/versions/1/publish",
         {"phone_numbers": [number], "direction": "both"}),
        ("rollback to v2", 0, "POST", f"{agents}/{a1}/rollback", {"to_version": 2}),
        ("reassign inbound", 1, "POST", f"{agents}/{a2}/versions/1/publish",
         {"phone_numbers": [number, spare], "direction": "inbound"}),
        ("SIP for the second", 0, "POST", f"{agents}/{a2}/deploy-as-sip", None),
        ("unassign outbound", 1, "POST", f"{agents}/{a1}/versions/2/publish",
         {"unassign_phone_numbers": [number], "direction": "outbound"}),
        ("unassign inbound", 0, "POST", f"{agents}/{a2}/versions/1/publish",
         {"unassign_phone_numbers": [number], "direction": "inbound"}),
        ("release the number", 1, "DELETE", f"/core/phone-numbers/{number}", None),
        ("register it again", 0, "POST", "/core/phone-numbers", {"phone_number": number}),
        ("publish v2 there", 1, "POST", f"{agents}/{a1}/versions/2/publish",
         {"phone_numbers": [number], "direction": "both"}),
        ("undeploy SIP", 0, "DELETE", f"{agents}/{a1}/deploy-as-sip", None),
        ("rename the second", 1, "PUT", f"{agents}/{a2}", {"name": "Billing"}),
        ("delete the first agent", 0, "DELETE", f"{agents}/{a1}", None),
        ("delete the second agent", 1, "DELETE", f"{agents}/{a2}", None),
    ]  # fmt: skip
    seen: set[Answer] = set()
    for step, writer, method, url, body in [("start", 0, "", "", None), *steps]:
        if method:
            await _send(apps[writer], tenant, method, url, json=body)
        for query, address in addresses.items():
            truth = await _truth(tenant, address)
            seen.add(truth)
            for reader in readers:
                await reader.check(query, truth, step)
    assert len(seen) >= 10  # the steps did change the answers


async def test_the_etag_is_the_same_in_every_process_for_the_same_state(
    settings: Settings, tenant: Tenant
) -> None:
    """A runtime may revalidate against any process behind the load balancer: an ETag one
    process gave is a 304 in another while the answer is the same, and only then."""
    agent = await tenant.create_agent(name="Front desk")
    await tenant.create_version(agent["id"], config=PHONE_CONFIG)
    number = await tenant.register_number()
    publish = f"/core/agents/{agent['id']}/versions/1/publish"
    await _send(tenant.client, tenant, "POST", publish, json={"phone_numbers": [number]})
    async with another_app(settings) as other, another_app(settings) as third:
        given = await tenant.get(RESOLVE + phone_query(number))
        etag = given.headers["etag"]
        for client in (other, third, tenant.client):
            for _ in range(2):  # cold, then from its cache
                headers = {**tenant.headers, "If-None-Match": etag}
                assert (
                    await client.get(RESOLVE + phone_query(number), headers=headers)
                ).status_code == 304
        await _send(other, tenant, "PUT", f"/core/agents/{agent['id']}", json={"name": "Desk"})
        for client in (third, tenant.client, other):
            headers = {**tenant.headers, "If-None-Match": etag}
            changed = await client.get(RESOLVE + phone_query(number), headers=headers)
            assert changed.status_code == 200 and b'"name":"Desk"' in changed.content
            assert changed.headers["etag"] != etag


class _Tiny(ConfigCache):
    """A cache that holds one config and one answer at most: every new one empties the store."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.MAX_BYTES = size
        self.MAX_ADDRESSES = 1


async def test_full_and_emptied_caches_answer_what_the_database_says(tenant: Tenant) -> None:
    """Two processes' caches, one full at every call (each new entry empties its stores) and one
    emptied by hand between calls, over writes to the numbers and versions they hold: each answer
    is the uncached one."""
    agent = await tenant.create_agent(name="Front desk")
    numbers = [await tenant.register_number() for _ in range(3)]
    for n in range(1, 4):
        config = {**PHONE_CONFIG, "instructions": f"Version {n}. " + "x" * 200 * n}
        await tenant.create_version(agent["id"], config=config)
    addresses = [PhoneAddress(number, "inbound") for number in numbers]
    full, emptied = _Tiny(600), ConfigCache()

    async def check() -> None:
        for address in addresses * 2:
            truth = await _truth(tenant, address)
            for cache in (full, emptied):
                try:
                    got = await service.resolve(
                        tenant.database, tenant.organization_id, address, SIP_DOMAIN, cache
                    )
                except NothingAnswers:
                    assert truth is None
                else:
                    assert (got.etag, got.document) == truth
                    assert cache._configs.bytes <= max(cache.MAX_BYTES, len(got.document))
            emptied._configs.clear()

    for version, chosen in [(1, numbers), (2, numbers[:1]), (3, numbers[1:]), (1, numbers[2:])]:
        body = {"phone_numbers": chosen, "direction": "inbound"}
        await _send(
            tenant.client,
            tenant,
            "POST",
            f"/core/agents/{agent['id']}/versions/{version}/publish",
            json=body,
        )
        await check()
    body = {"unassign_phone_numbers": numbers[:1], "direction": "inbound"}
    await _send(
        tenant.client, tenant, "POST", f"/core/agents/{agent['id']}/versions/2/publish", json=body
    )
    await check()
    await _send(tenant.client, tenant, "DELETE", f"/core/phone-numbers/{numbers[0]}")
    await check()


async def test_resolves_racing_writes_in_two_processes_stay_consistent_and_end_fresh(
    settings: Settings, tenant: Tenant
) -> None:
    """Resolves in flight in both apps while both publish one version then the other and rename
    the agent: every answer is one whole state (its version with that version's config, its
    ETag in the header and the body), no cache is poisoned by a row read before a write (once
    the writes are done both answer the database's state), and no ETag seen along the way is a
    304 unless it is the final answer's."""
    agent = await tenant.create_agent(name="Name 0")
    number = await tenant.register_number()
    for n in (1, 2):
        await tenant.create_version(agent["id"], config={**PHONE_CONFIG, "instructions": f"V{n}."})
    publish = f"/core/agents/{agent['id']}/versions/{{}}/publish"
    body = {"phone_numbers": [number], "direction": "both"}
    await _send(tenant.client, tenant, "POST", publish.format(1), json=body)
    query = phone_query(number, "outbound")
    async with another_app(settings) as other:
        apps = (tenant.client, other)
        etags: set[str] = set()

        async def resolving(client: httpx.AsyncClient) -> None:
            for _ in range(15):
                response = await client.get(RESOLVE + query, headers=tenant.headers)
                assert response.status_code == 200, response.text
                answer = response.json()
                assert answer["etag"] == response.headers["etag"]
                version = answer["version"]["version"]
                assert answer["config"]["instructions"].startswith(f"V{version}.")
                etags.add(answer["etag"])

        async def writing(n: int) -> None:
            client = apps[n % 2]
            if n % 3 == 2:
                url = f"/core/agents/{agent['id']}"
                await _send(client, tenant, "PUT", url, json={"name": f"Name {n}"})
            else:
                await _send(client, tenant, "POST", publish.format(1 + n % 2), json=body)

        await asyncio.gather(*(resolving(c) for c in apps * 2), *(writing(n) for n in range(8)))
        truth = await _truth(tenant, PhoneAddress(number, "outbound"))
        assert truth is not None
        for client in apps:
            for etag in etags | {truth[0]}:
                headers = {**tenant.headers, "If-None-Match": etag}
                response = await client.get(RESOLVE + query, headers=headers)
                if etag == truth[0]:
                    assert response.status_code == 304
                else:
                    assert (response.headers["etag"], response.content) == truth


async def test_a_number_that_moves_to_another_organization(
    settings: Settings, tenant: Tenant, other_tenant: Tenant
) -> None:
    """Released by one organization and taken by another (numbers are globally unique): both
    processes hold the first's answer; the first now gets 404 (its ETag, even `*`, revalidates
    nothing) and the second its own answer, whatever the processes held for that address."""
    number = await tenant.register_number()
    first, second = await tenant.create_agent(), await other_tenant.create_agent()
    await tenant.create_version(first["id"], config=PHONE_CONFIG)
    await other_tenant.create_version(second["id"], config=PHONE_CONFIG)
    await _send(tenant.client, tenant, "POST", f"/core/agents/{first['id']}/versions/1/publish",
                json={"phone_numbers": [number]})  # fmt: skip
    query = phone_query(number)
    async with another_app(settings) as other:
        apps = (tenant.client, other)
        held = [await c.get(RESOLVE + query, headers=tenant.headers) for c in apps]
        assert {r.status_code for r in held} == {200}
        etag = held[0].headers["etag"]
        assert held[1].headers["etag"] == etag
        unassign = {"unassign_phone_numbers": [number], "direction": "both"}
        await _send(
            other,
            tenant,
            "POST",
            f"/core/agents/{first['id']}/versions/1/publish",
            json=unassign,
        )
        await _send(tenant.client, tenant, "DELETE", f"/core/phone-numbers/{number}")
        taken = await other.post(
            "/core/phone-numbers", json={"phone_number": number}, headers=other_tenant.headers
        )
        assert taken.status_code == 201, taken.text
        await _send(
            tenant.client,
            other_tenant,
            "POST",
            f"/core/agents/{second['id']}/versions/1/publish",
            json={"phone_numbers": [number]},
        )
        truth = await _truth(other_tenant, PhoneAddress(number, "inbound"))
        assert truth is not None and truth[0] != etag
        for client in apps:
            for validator in (etag, "*"):
                mine = {**tenant.headers, "If-None-Match": validator}
                assert (await client.get(RESOLVE + query, headers=mine)).status_code == 404
                theirs = {**other_tenant.headers, "If-None-Match": etag}
                response = await client.get(RESOLVE + query, headers=theirs)
                assert (response.headers["etag"], response.content) == truth

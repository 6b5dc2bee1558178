"""`GET /core/routing/resolve` (issue 11, CONTRACTS §4): phone slots and SIP URIs resolve to the
version that answers them, with the telephone view of its config and a revalidatable ETag."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import httpx

from tests.factories import Tenant, unique_phone_number

RESOLVE = "/core/routing/resolve"
SIP_DOMAIN = "sip.test.local"  # the test settings' CALLPLANE_SIP_DOMAIN
PHONE_CONFIG = {
    "instructions": "Help callers of Acme Dental.",
    "starting_message": "Hello from the web.",
    "max_tool_steps": 8,
    "channel_overrides": {
        "telephone": {
            "instructions": "You are on the phone: short sentences.",
            "starting_message": "Acme Dental, how can I help?",
            "max_tool_steps": 2,
        }
    },
}


def phone_query(number: str, direction: str | None = None) -> str:
    query = f"?phone_number={quote(number)}"
    return query + (f"&direction={direction}" if direction else "")


def sip_query(agent_id: str, domain: str = SIP_DOMAIN) -> str:
    return f"?sip_uri={quote(f'sip:{agent_id}@{domain}')}"


async def agent_with_version(
    tenant: Tenant, config: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    agent = await tenant.create_agent(name="Front desk")
    version = await tenant.create_version(agent["id"], config=config or PHONE_CONFIG)
    return agent, version


async def publish(
    tenant: Tenant, agent_id: str, version: int, numbers: list[str], direction: str = "inbound"
) -> None:
    response = await tenant.publish(agent_id, version, phone_numbers=numbers, direction=direction)
    assert response.status_code == 200, response.text


async def resolved(tenant: Tenant, query: str, **headers: str) -> dict[str, Any]:
    response = await tenant.get(RESOLVE + query, headers=headers)
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert response.headers["etag"] == body["etag"]
    return body


async def nothing_answers(tenant: Tenant, query: str) -> None:
    response = await tenant.get(RESOLVE + query)
    assert response.status_code == 404, response.text
    assert response.json() == {
        "detail": "No agent version answers this address.",
        "code": "route_not_found",
    }


async def test_inbound_slot_resolves_with_the_telephone_override_applied(tenant: Tenant) -> None:
    agent, version = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], version["version"], [number])

    body = await resolved(tenant, phone_query(number, "inbound"))
    assert body["agent"] == {"id": agent["id"], "name": "Front desk"}
    assert body["version"] == {"id": version["id"], "version": 1}
    assert (body["slot"], body["channel"]) == ("inbound", "telephone")
    config = body["config"]
    assert config["instructions"] == (
        "Help callers of Acme Dental.\n\nYou are on the phone: short sentences."
    )
    assert config["starting_message"] == "Acme Dental, how can I help?"
    assert config["max_tool_steps"] == 2
    assert config["channel_overrides"]["telephone"] is None
    # Everything else is the stored config as it is.
    stored = (await tenant.get(f"/core/agents/{agent['id']}/versions/1")).json()["config"]
    untouched = {"instructions", "starting_message", "max_tool_steps", "channel_overrides"}
    assert {k: v for k, v in config.items() if k not in untouched} == {
        k: v for k, v in stored.items() if k not in untouched
    }
    # inbound is the default direction; the number however it is written; `+` unencoded.
    assert await resolved(tenant, phone_query(number)) == body
    spaced = f"{number[:2]} ({number[2:5]}) {number[5:8]}-{number[8:]}"
    assert await resolved(tenant, phone_query(spaced)) == body
    assert await resolved(tenant, f"?phone_number={number}") == body
    # The outbound slot of the same number is empty.
    await nothing_answers(tenant, phone_query(number, "outbound"))


async def test_outbound_and_both_slots(tenant: Tenant) -> None:
    agent, version = await agent_with_version(tenant)
    outbound_only, both = await tenant.register_number(), await tenant.register_number()
    await publish(tenant, agent["id"], 1, [outbound_only], direction="outbound")
    await publish(tenant, agent["id"], 1, [both], direction="both")

    outbound = await resolved(tenant, phone_query(outbound_only, "outbound"))
    assert outbound["slot"] == "outbound" and outbound["version"]["id"] == version["id"]
    await nothing_answers(tenant, phone_query(outbound_only, "inbound"))

    inbound = await resolved(tenant, phone_query(both, "inbound"))
    out = await resolved(tenant, phone_query(both, "outbound"))
    assert (inbound["slot"], out["slot"]) == ("inbound", "outbound")
    assert inbound["config"] == out["config"] and inbound["version"] == out["version"]
    assert inbound["etag"] != out["etag"]  # two answers, two validators


async def test_slots_can_hold_different_agents(tenant: Tenant) -> None:
    first, _ = await agent_with_version(tenant)
    second = await tenant.create_agent(name="Collections")
    await tenant.create_version(second["id"], config={"instructions": "Collect payments."})
    number = await tenant.register_number()
    await publish(tenant, first["id"], 1, [number], direction="inbound")
    await publish(tenant, second["id"], 1, [number], direction="outbound")
    assert (await resolved(tenant, phone_query(number)))["agent"]["id"] == first["id"]
    out = await resolved(tenant, phone_query(number, "outbound"))
    assert out["agent"] == {"id": second["id"], "name": "Collections"}
    assert out["config"]["instructions"] == "Collect payments."  # no override: as stored


async def test_sip_uri_resolves_the_live_version(tenant: Tenant) -> None:
    agent, _ = await agent_with_version(tenant)
    await nothing_answers(tenant, sip_query(agent["id"]))  # no live version, no endpoint
    await publish(tenant, agent["id"], 1, [])
    await nothing_answers(tenant, sip_query(agent["id"]))  # live, but no SIP endpoint
    deployed = await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")
    assert deployed.status_code == 200, deployed.text
    sip_uri = deployed.json()["sip_uri"]

    body = await resolved(tenant, f"?sip_uri={quote(sip_uri)}")
    assert body["slot"] is None and body["version"]["version"] == 1
    assert body["config"]["starting_message"] == "Acme Dental, how can I help?"
    # The forms a SIP stack passes along: angle brackets, a port, parameters, `sips:`, case.
    for written in (
        f"<{sip_uri}>",
        f"sip:{agent['id']}@{SIP_DOMAIN}:5060;transport=tcp",
        f"SIPS:{agent['id'].upper()}@SIP.TEST.LOCAL",
    ):
        assert await resolved(tenant, f"?sip_uri={quote(written)}") == body, written

    # A new live version answers at once; another domain is not this server's address.
    await tenant.create_version(agent["id"], config={"instructions": "Version two."})
    await publish(tenant, agent["id"], 2, [])
    assert (await resolved(tenant, sip_query(agent["id"])))["version"]["version"] == 2
    await nothing_answers(tenant, sip_query(agent["id"], "sip.elsewhere.example"))
    removed = await tenant.delete(f"/core/agents/{agent['id']}/deploy-as-sip")
    assert removed.status_code == 204
    await nothing_answers(tenant, sip_query(agent["id"]))
    await nothing_answers(tenant, sip_query(str(uuid.uuid4())))


async def test_nothing_answers_unassigned_or_unknown_numbers(tenant: Tenant) -> None:
    free = await tenant.register_number()
    await nothing_answers(tenant, phone_query(free))
    await nothing_answers(tenant, phone_query(unique_phone_number()))  # never registered
    # A draft cannot be in a slot; unassigning empties it.
    agent, _ = await agent_with_version(tenant)
    await publish(tenant, agent["id"], 1, [free])
    await resolved(tenant, phone_query(free))
    response = await tenant.publish(agent["id"], 1, unassign_phone_numbers=[free])
    assert response.status_code == 200, response.text
    await nothing_answers(tenant, phone_query(free))


async def test_another_organizations_addresses_are_404(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number], direction="both")
    assert (await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")).status_code == 200
    await resolved(tenant, phone_query(number))
    for query in (
        phone_query(number),
        phone_query(number, "outbound"),
        sip_query(agent["id"]),
    ):
        await nothing_answers(other_tenant, query)


async def test_etag_revalidates_until_a_publish_changes_the_answer(tenant: Tenant) -> None:
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    first = await resolved(tenant, phone_query(number))
    etag = first["etag"]

    cached = await tenant.get(RESOLVE + phone_query(number), headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        again = await tenant.get(RESOLVE + phone_query(number), headers={"If-None-Match": header})
        assert again.status_code == 304, header
    assert (await resolved(tenant, phone_query(number), **{"If-None-Match": '"x"'})) == first

    await tenant.create_version(agent["id"], config={"instructions": "Version two."})
    await publish(tenant, agent["id"], 2, [number])
    stale = await tenant.get(RESOLVE + phone_query(number), headers={"If-None-Match": etag})
    assert stale.status_code == 200, stale.text
    second = stale.json()
    assert second["version"]["version"] == 2 and second["etag"] != etag
    assert second["config"]["instructions"] == "Version two."

    # Renaming the agent changes the answer (its name is in it), so the ETag too.
    renamed = await tenant.put(f"/core/agents/{agent['id']}", json={"name": "Reception"})
    assert renamed.status_code == 200
    third = await resolved(tenant, phone_query(number))
    assert third["agent"]["name"] == "Reception" and third["etag"] != second["etag"]
    # Rolling back to version 1 answers version 1 again.
    rollback = await tenant.post(f"/core/agents/{agent['id']}/rollback", json={"to_version": 1})
    assert rollback.status_code == 200, rollback.text
    assert (await resolved(tenant, phone_query(number)))["version"]["version"] == 1


async def test_malformed_queries_are_422(tenant: Tenant) -> None:
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    cases = {
        "": ["query", "phone_number"],
        f"{phone_query(number)}&sip_uri=sip:{agent['id']}@{SIP_DOMAIN}": ["query", "phone_number"],
        phone_query(number, "sideways"): ["query", "direction"],
        f"{sip_query(agent['id'])}&direction=inbound": ["query", "direction"],
        "?phone_number=not-a-number": ["query", "phone_number"],
        "?phone_number=%2B1": ["query", "phone_number"],
        "?sip_uri=tel:%2B14155550100": ["query", "sip_uri"],
        f"?sip_uri=sip:alice@{SIP_DOMAIN}": ["query", "sip_uri"],
        f"?sip_uri=sip:{agent['id']}": ["query", "sip_uri"],
        f"?phone_number={'1' * 65}": ["query", "phone_number"],
    }
    for query, loc in cases.items():
        response = await tenant.get(RESOLVE + query)
        assert response.status_code == 422, (query, response.text)
        body = response.json()
        assert body["code"] == "validation_error", query
        assert [issue["loc"] for issue in body["detail"]] == [loc], (query, body)


async def test_requires_an_agents_read_scope(tenant: Tenant, client: httpx.AsyncClient) -> None:
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    reader = await tenant.key_with("agents:read")
    ok = await client.get(RESOLVE + phone_query(number), headers=reader)
    assert ok.status_code == 200
    numbers_only = await tenant.key_with("phone_numbers:read")
    refused = await client.get(RESOLVE + phone_query(number), headers=numbers_only)
    assert refused.status_code == 403

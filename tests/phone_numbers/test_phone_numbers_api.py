"""The phone-number registry: E.164 normalization, global uniqueness, slots and filters."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import text

from callplane.db.engine import Database
from callplane.models import PhoneNumber
from tests.factories import Tenant, TenantFactory, unique_phone_number

BASE = "/core/phone-numbers"


def _formats(e164: str) -> list[str]:
    """Several ways people write the same US number."""
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return [
        f"+1 ({area}) {exchange}-{line}",
        f"+1-{area}-{exchange}-{line}",
        f"+1.{area}.{exchange}.{line}",
        f"  +1 {area} {exchange} {line}  ",
        f"tel:+1-{area}-{exchange}-{line}",
    ]


def _path(number: str) -> str:
    """The record's URL with the number fully percent-encoded (`+` as `%2B`)."""
    return f"{BASE}/{quote(number, safe='')}"


async def _numbers(tenant: Tenant, **params: Any) -> list[str]:
    response = await tenant.get(BASE, params=params)
    assert response.status_code == 200, response.text
    return [item["phone_number"] for item in response.json()["data"]]


async def test_register_returns_the_full_record(tenant: Tenant) -> None:
    number = unique_phone_number()
    response = await tenant.post(BASE, json={"phone_number": number, "label": "Front desk"})
    assert response.status_code == 201, response.text
    record = response.json()
    assert record == {
        "phone_number": number,
        "label": "Front desk",
        "outbound_shareable": False,
        "inbound_agent_id": None,
        "inbound_agent_version_id": None,
        "inbound_version": None,
        "outbound_agent_id": None,
        "outbound_agent_version_id": None,
        "outbound_version": None,
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
    }
    assert record["created_at"].endswith("Z") and record["updated_at"].endswith("Z")
    assert (await tenant.get(_path(number))).json() == record


@pytest.mark.parametrize("variant", range(5))
async def test_register_normalizes_to_e164(tenant: Tenant, variant: int) -> None:
    number = unique_phone_number()
    raw = _formats(number)[variant]
    response = await tenant.post(BASE, json={"phone_number": raw, "outbound_shareable": True})
    assert response.status_code == 201, (raw, response.text)
    assert response.json()["phone_number"] == number
    assert response.json()["outbound_shareable"] is True
    assert await _numbers(tenant) == [number]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"phone_number": ""},
        {"phone_number": "   "},
        {"phone_number": "not a number"},
        {"phone_number": "4155550123"},  # national format, no country code
        {"phone_number": "+1415"},  # too short
        {"phone_number": "+1 415 555 0123 4567 89"},  # too long
        {"phone_number": "+10005550123"},  # not a valid US area code
        {"phone_number": "+" + "1" * 70},
        {"phone_number": 14155550123},
        {"phone_number": "+14155550123", "unknown": True},
        {"phone_number": "+14155550123", "label": "x" * 201},
        {"phone_number": "+14155550123", "outbound_shareable": "sometimes"},
    ],
)
async def test_register_rejects_invalid_input(tenant: Tenant, body: dict[str, Any]) -> None:
    response = await tenant.post(BASE, json=body)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await _numbers(tenant) == []


async def test_register_twice_in_same_org_is_409(tenant: Tenant) -> None:
    number = await tenant.register_number(label="first")
    response = await tenant.post(BASE, json={"phone_number": _formats(number)[0], "label": "2"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This phone number is already registered.",
        "code": "phone_number_registered",
    }
    assert await _numbers(tenant) == [number]
    assert (await tenant.get(_path(number))).json()["label"] == "first"


async def test_register_number_owned_by_another_org_is_409(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    number = await other_tenant.register_number(label="theirs")
    response = await tenant.post(BASE, json={"phone_number": number})
    assert response.status_code == 409
    assert response.json()["code"] == "phone_number_registered"
    assert await _numbers(tenant) == []
    assert (await tenant.get(_path(number))).status_code == 404
    assert (await other_tenant.get(_path(number))).json()["label"] == "theirs"


async def test_concurrent_registration_of_one_number_gives_one_201_and_409s(
    tenants: TenantFactory,
) -> None:
    """The uniqueness check and the insert race (on PostgreSQL); losers get 409, not a 500."""
    orgs = [await tenants.create() for _ in range(6)]
    number = unique_phone_number()
    responses = await asyncio.gather(
        *(org.post(BASE, json={"phone_number": number}) for org in orgs)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [
        r.text for r in responses
    ]
    assert all(
        r.json()["code"] == "phone_number_registered" for r in responses if r.status_code == 409
    )
    owners = [(await org.get(_path(number))).status_code for org in orgs]
    assert sorted(owners) == [200] + [404] * 5
    winner = orgs[[r.status_code for r in responses].index(201)]
    assert owners[orgs.index(winner)] == 200


async def _wait_until_a_query_waits_for_a_lock(database: Database) -> None:
    for _ in range(500):
        async with database.session(write=False) as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the registration never blocked on the uncommitted row")


async def test_registration_losing_the_race_to_the_unique_index_is_409(
    tenants: TenantFactory, database: Database, is_postgres: bool
) -> None:
    """Deterministic version of the race: the check passes, then the insert hits the index."""
    if not is_postgres:
        pytest.skip("SQLite serializes writers with BEGIN IMMEDIATE: this race cannot happen")
    first, second = await tenants.create(), await tenants.create()
    number = unique_phone_number()
    async with database.session(write=True) as session, session.begin():
        session.add(PhoneNumber(organization_id=first.organization_id, phone_number=number))
        await session.flush()
        # The request does not see the uncommitted row, so it inserts and waits on the index.
        request = asyncio.create_task(second.post(BASE, json={"phone_number": number}))
        await _wait_until_a_query_waits_for_a_lock(database)
    response = await request
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "phone_number_registered"
    assert (await second.get(_path(number))).status_code == 404
    assert (await first.get(_path(number))).status_code == 200


async def test_get_accepts_any_format_of_the_number(tenant: Tenant) -> None:
    number = await tenant.register_number()
    for raw in [number, *_formats(number)]:
        response = await tenant.get(_path(raw))
        assert response.status_code == 200, raw
        assert response.json()["phone_number"] == number
    # A literal `+` in a path is not a space (that is only for query strings).
    response = await tenant.get(f"{BASE}/{number}")
    assert response.status_code == 200
    assert response.json()["phone_number"] == number
    response = await tenant.get(f"{BASE}/%2B{number[1:]}")
    assert response.status_code == 200
    assert response.json()["phone_number"] == number


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_or_foreign_number_is_404(
    tenant: Tenant, other_tenant: Tenant, method: str
) -> None:
    theirs = await other_tenant.register_number(label="theirs")
    kwargs: dict[str, Any] = {"json": {"label": "mine now"}} if method == "PATCH" else {}
    for raw in (theirs, unique_phone_number(), "garbage", "4155550123"):
        response = await tenant.request(method, _path(raw), **kwargs)
        assert response.status_code == 404, raw
        assert response.json() == {
            "detail": "Phone number not found.",
            "code": "phone_number_not_found",
        }
    record = (await other_tenant.get(_path(theirs))).json()
    assert record["label"] == "theirs"


async def test_patch_changes_only_given_fields(tenant: Tenant) -> None:
    number = await tenant.register_number(label="Sales")
    before = (await tenant.get(_path(number))).json()

    response = await tenant.patch(_path(number), json={"outbound_shareable": True})
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["outbound_shareable"] is True and after["label"] == "Sales"
    assert after["created_at"] == before["created_at"]

    response = await tenant.patch(_path(_formats(number)[1]), json={"label": "Support"})
    assert response.status_code == 200
    assert response.json()["label"] == "Support"
    assert response.json()["outbound_shareable"] is True

    response = await tenant.patch(_path(number), json={"label": None})
    assert response.status_code == 200
    assert response.json()["label"] is None

    response = await tenant.patch(_path(number), json={})
    assert response.status_code == 200
    assert response.json()["label"] is None and response.json()["outbound_shareable"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"outbound_shareable": None},
        {"outbound_shareable": "yes please"},
        {"label": "x" * 201},
        {"labell": "typo"},
        {"phone_number": "+14155550123"},
        {"inbound_agent_version_id": str(uuid.uuid4())},
    ],
)
async def test_patch_rejects_bad_bodies(tenant: Tenant, body: dict[str, Any]) -> None:
    number = await tenant.register_number(label="kept")
    before = (await tenant.get(_path(number))).json()
    response = await tenant.patch(_path(number), json=body)
    assert response.status_code == 422, response.text
    assert (await tenant.get(_path(number))).json() == before


async def test_list_filters_by_substring_literally(tenant: Tenant, other_tenant: Tenant) -> None:
    first = await tenant.register_number()
    second = await tenant.register_number()
    theirs = await other_tenant.register_number()

    assert await _numbers(tenant) == [second, first]
    assert await _numbers(tenant, phone_number=first[-7:]) == [first]
    assert await _numbers(tenant, phone_number="+1415") == [second, first]
    assert await _numbers(tenant, phone_number=theirs) == []
    assert await _numbers(tenant, phone_number="%") == []
    assert await _numbers(tenant, phone_number="_") == []
    assert await _numbers(tenant, phone_number="+1415%") == []
    assert await _numbers(tenant, phone_number="\\") == []


async def test_list_filters_by_agent_and_assignment(tenant: Tenant) -> None:
    inbound = await tenant.register_number()
    outbound = await tenant.register_number()
    free = await tenant.register_number()
    agent_a, version_a = await tenant.published_agent()
    agent_b = await tenant.create_agent(name="B")
    version_b = await tenant.create_version(agent_b["id"])
    assert (await tenant.publish(agent_a["id"], 1, phone_numbers=[inbound])).status_code == 200
    response = await tenant.publish(
        agent_b["id"], 1, phone_numbers=[outbound], direction="outbound"
    )
    assert response.status_code == 200

    assert await _numbers(tenant, agent_id=agent_a["id"]) == [inbound]
    assert await _numbers(tenant, agent_id=agent_b["id"]) == [outbound]
    assert await _numbers(tenant, agent_id=str(uuid.uuid4())) == []
    assert await _numbers(tenant, assigned="true") == [outbound, inbound]
    assert await _numbers(tenant, assigned="false") == [free]
    assert await _numbers(tenant, assigned="true", phone_number=inbound[-4:]) == [inbound]

    record = (await tenant.get(_path(outbound))).json()
    assert record["outbound_agent_id"] == agent_b["id"]
    assert record["outbound_agent_version_id"] == version_b["id"]
    assert record["outbound_version"] == 1
    assert record["inbound_agent_id"] is None and record["inbound_version"] is None
    record = (await tenant.get(_path(inbound))).json()
    assert record["inbound_agent_version_id"] == version_a["id"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"assigned": "maybe"},
        {"agent_id": "not-a-uuid"},
        {"phone_number": "1" * 65},
    ],
)
async def test_list_rejects_bad_filters(tenant: Tenant, params: dict[str, str]) -> None:
    response = await tenant.get(BASE, params=params)
    assert response.status_code == 422, response.text


async def test_list_paginates_newest_first(tenant: Tenant) -> None:
    numbers = [await tenant.register_number() for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await tenant.get(BASE, params=params)
        assert response.status_code == 200
        page = response.json()
        assert page["pagination"]["limit"] == 2 and len(page["data"]) <= 2
        seen += [item["phone_number"] for item in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(numbers))

    response = await tenant.get(BASE, params={"cursor": "garbage"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


async def test_delete_frees_the_number_for_anyone(tenant: Tenant, other_tenant: Tenant) -> None:
    number = await tenant.register_number()
    response = await tenant.delete(_path(_formats(number)[0]))
    assert response.status_code == 204 and response.content == b""
    assert (await tenant.get(_path(number))).status_code == 404
    assert await _numbers(tenant) == []
    assert (await tenant.delete(_path(number))).status_code == 404
    # Numbers are unique while registered only: the released number can be registered again.
    assert await other_tenant.register_number(number) == number


@pytest.mark.parametrize("direction", ["inbound", "outbound", "both"])
async def test_delete_while_assigned_is_409(tenant: Tenant, direction: str) -> None:
    number = await tenant.register_number()
    agent, _ = await tenant.published_agent()
    response = await tenant.publish(agent["id"], 1, phone_numbers=[number], direction=direction)
    assert response.status_code == 200, response.text
    before = (await tenant.get(_path(number))).json()

    response = await tenant.delete(_path(number))
    assert response.status_code == 409
    assert response.json() == {
        "detail": "This phone number is assigned to an agent; unassign it first.",
        "code": "phone_number_assigned",
    }
    assert (await tenant.get(_path(number))).json() == before

    response = await tenant.publish(
        agent["id"], 1, unassign_phone_numbers=[number], direction=direction
    )
    assert response.status_code == 200, response.text
    assert (await tenant.delete(_path(number))).status_code == 204
    assert (await tenant.get(_path(number))).status_code == 404


async def test_agent_delete_clears_every_slot_field(tenant: Tenant) -> None:
    """Deleting an agent empties its slots, so the number can then be deleted."""
    number = await tenant.register_number()
    agent, _ = await tenant.published_agent()
    response = await tenant.publish(agent["id"], 1, phone_numbers=[number], direction="both")
    assert response.status_code == 200
    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204
    record = (await tenant.get(_path(number))).json()
    for slot in ("inbound", "outbound"):
        assert record[f"{slot}_agent_id"] is None
        assert record[f"{slot}_agent_version_id"] is None
        assert record[f"{slot}_version"] is None
    assert await _numbers(tenant, assigned="false") == [number]
    assert (await tenant.delete(_path(number))).status_code == 204


async def test_scopes(tenant: Tenant) -> None:
    number = await tenant.register_number(label="kept")
    reader = await tenant.key_with("phone_numbers:read")
    assert (await tenant.get(BASE, headers=reader)).status_code == 200
    assert (await tenant.get(_path(number), headers=reader)).status_code == 200
    for method, url, body in [
        ("POST", BASE, {"phone_number": unique_phone_number()}),
        ("PATCH", _path(number), {"label": "changed"}),
        ("DELETE", _path(number), None),
    ]:
        response = await tenant.request(method, url, json=body, headers=reader)
        assert response.status_code == 403, (method, response.text)
        assert response.json()["code"] == "forbidden"
        assert "phone_numbers:manage" in response.json()["detail"]
    unrelated = await tenant.key_with("agents:read")
    assert (await tenant.get(BASE, headers=unrelated)).status_code == 403
    manager = await tenant.key_with("phone_numbers:manage")
    assert (await tenant.get(_path(number), headers=manager)).status_code == 200
    assert await _numbers(tenant) == [number]
    assert (await tenant.get(_path(number))).json()["label"] == "kept"
    assert (await tenant.client.get(BASE)).status_code == 401

"""Publishing (SPEC §5): published flag, live version, and phone-number slots, all or nothing."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import fields
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import pytest
from asyncpg.pgproto.pgproto import UUID as PgUUID
from pydantic import TypeAdapter

from callplane.phone_numbers.repository import NumberRow
from callplane.phone_numbers.schemas import PhoneNumberRead, Slot
from callplane.phone_numbers.slots import Holder
from callplane.publishing.endpoints import published_json
from callplane.publishing.schemas import PublishedPhoneNumber
from callplane.publishing.service import Published
from tests.factories import Tenant, unique_phone_number

SLOT_FIELDS = ("agent_id", "agent_version_id", "version")
BY_NUMBER = itemgetter("phone_number")


def pretty(number: str) -> str:
    """+14152001234 written the way people type it: +1 (415) 200-1234."""
    return f"+1 ({number[2:5]}) {number[5:8]}-{number[8:]}"


async def record(tenant: Tenant, number: str) -> dict[str, Any]:
    response = await tenant.get(f"/core/phone-numbers/{number}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def slot(record: dict[str, Any], direction: str) -> tuple[Any, ...]:
    return tuple(record[f"{direction}_{field}"] for field in SLOT_FIELDS)


def holds(version: dict[str, Any]) -> tuple[Any, ...]:
    return (version["agent_id"], version["id"], version["version"])


EMPTY = (None, None, None)


async def get_version(tenant: Tenant, agent_id: str, number: int) -> dict[str, Any]:
    response = await tenant.get(f"/core/agents/{agent_id}/versions/{number}")
    assert response.status_code == 200
    return dict(response.json())


async def live_version(tenant: Tenant, agent_id: str) -> int | None:
    response = await tenant.get(f"/core/agents/{agent_id}")
    assert response.status_code == 200
    value: int | None = response.json()["live_version"]
    return value


async def publish_ok(tenant: Tenant, agent_id: str, number: int, **body: Any) -> list[Any]:
    """The records touched, as stored: each answer record also says what the slots the call
    addressed held before it (`previous`, checked here for its shape, then set aside)."""
    response = await tenant.publish(agent_id, number, **body)
    assert response.status_code == 200, response.text
    direction = body.get("direction", "inbound")
    addressed = {"inbound", "outbound"} if direction == "both" else {direction}
    records = []
    for answered in response.json():
        previous = answered.pop("previous")
        assert set(previous) == addressed, previous
        records.append(answered)
    return records


# --- the version and the live version -----------------------------------------------------------


async def test_publish_marks_published_once_and_sets_live_version(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    draft = await tenant.create_version(agent["id"])
    assert await publish_ok(tenant, agent["id"], 1) == []

    published = await get_version(tenant, agent["id"], 1)
    assert published["published"] is True
    assert published["published_at"] is not None and published["published_at"].endswith("Z")
    assert published["published_at"] >= draft["created_at"]
    assert published["etag"] != draft["etag"]
    assert await live_version(tenant, agent["id"]) == 1

    assert await publish_ok(tenant, agent["id"], 1) == []
    again = await get_version(tenant, agent["id"], 1)
    assert again["published_at"] == published["published_at"]
    assert again["published"] is True


async def test_live_version_follows_latest_publish_and_rolls_back(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    for _ in range(3):
        await tenant.create_version(agent["id"])
    await publish_ok(tenant, agent["id"], 1)
    await publish_ok(tenant, agent["id"], 3)
    assert await live_version(tenant, agent["id"]) == 3
    first_published_at = (await get_version(tenant, agent["id"], 1))["published_at"]

    # Rollback: re-publish the older version.
    await publish_ok(tenant, agent["id"], 1)
    assert await live_version(tenant, agent["id"]) == 1
    assert (await get_version(tenant, agent["id"], 1))["published_at"] == first_published_at
    assert (await get_version(tenant, agent["id"], 3))["published"] is True
    assert (await get_version(tenant, agent["id"], 2))["published"] is False

    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    assert [(v["version"], v["published"]) for v in detail["versions"]] == [
        (3, True),
        (2, False),
        (1, True),
    ]


async def test_publish_without_body(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    response = await tenant.post(f"/core/agents/{agent['id']}/versions/1/publish")
    assert response.status_code == 200, response.text
    assert response.json() == []
    assert await live_version(tenant, agent["id"]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"direction": "sideways"},
        {"phone_numbers": "+14155550100"},
        {"phone_numbers": [1]},
        {"unknown": True},
        {"direction": None},
    ],
)
async def test_publish_rejects_bad_bodies(tenant: Tenant, body: dict[str, Any]) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    response = await tenant.publish(agent["id"], 1, **body)
    assert response.status_code == 422, response.text
    assert (await get_version(tenant, agent["id"], 1))["published"] is False
    assert await live_version(tenant, agent["id"]) is None


async def test_publish_unknown_version_or_agent(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    response = await tenant.publish(agent["id"], 2)
    assert response.status_code == 404
    assert response.json()["code"] == "version_not_found"
    response = await tenant.publish(str(uuid.uuid4()), 1)
    assert response.status_code == 404
    assert response.json()["code"] == "agent_not_found"
    response = await tenant.post(f"/core/agents/{agent['id']}/versions/latest/publish")
    assert response.status_code == 422
    assert await live_version(tenant, agent["id"]) is None


# --- slots and directions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "written"),
    [(None, ("inbound",)), ("inbound", ("inbound",)), ("outbound", ("outbound",))],
)
async def test_direction_writes_only_its_slot(
    tenant: Tenant, direction: str | None, written: tuple[str, ...]
) -> None:
    """The other slot keeps whatever it held (here: another agent)."""
    other_agent, other_version = await tenant.published_agent()
    number = await tenant.register_number()
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[number], direction="both")

    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    body: dict[str, Any] = {"phone_numbers": [number]}
    if direction is not None:
        body["direction"] = direction
    touched = await publish_ok(tenant, agent["id"], 1, **body)

    stored = await record(tenant, number)
    assert touched == [stored]
    for side in ("inbound", "outbound"):
        expected = holds(version) if side in written else holds(other_version)
        assert slot(stored, side) == expected, side


async def test_direction_both_writes_both_slots(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number], direction="both")
    stored = await record(tenant, number)
    assert slot(stored, "inbound") == slot(stored, "outbound") == holds(version)


async def test_republishing_an_older_version_moves_the_slot_back(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    first = await tenant.create_version(agent["id"])
    second = await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 2, phone_numbers=[number])
    assert slot(await record(tenant, number), "inbound") == holds(second)
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number])
    assert slot(await record(tenant, number), "inbound") == holds(first)


async def test_publish_without_numbers_leaves_existing_slots(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    first = await tenant.create_version(agent["id"])
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number])
    await publish_ok(tenant, agent["id"], 2)
    assert slot(await record(tenant, number), "inbound") == holds(first)
    assert await live_version(tenant, agent["id"]) == 2


async def test_response_matches_stored_records(tenant: Tenant) -> None:
    """Several numbers written in one publish come back exactly as stored (timestamps too)."""
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    numbers = [await tenant.register_number() for _ in range(4)]
    touched = await publish_ok(tenant, agent["id"], 1, phone_numbers=numbers, direction="both")
    stored = [await record(tenant, number) for number in numbers]
    assert sorted(touched, key=BY_NUMBER) == sorted(stored, key=BY_NUMBER)
    assert len({r["updated_at"] for r in stored}) == 1


async def test_answer_is_the_models_own_json(tenant: Tenant) -> None:
    """The answer is encoded from the rows by orjson, not through the models: byte for byte what
    `list[PublishedPhoneNumber]` writes for the same values (field order, `Z` timestamps, UUID
    text, a non-ASCII label, empty and held slots)."""
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    other_agent, _ = await tenant.published_agent()
    labelled = await tenant.register_number(label="Réception — 東京")
    taken = await tenant.register_number()
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[taken], direction="outbound")

    response = await tenant.publish(
        agent["id"], 1, phone_numbers=[labelled, taken], direction="both"
    )

    assert response.status_code == 200, response.text
    models = TypeAdapter(list[PublishedPhoneNumber])
    assert response.content == models.dump_json(models.validate_json(response.content))


def test_a_locked_row_carries_the_read_schema() -> None:
    """`NumberRow` (the write paths' plain row) spells out `PhoneNumberRead`'s fields, in its
    order, after the id: the answer is encoded from it field by field."""
    assert [field.name for field in fields(NumberRow)] == ["id", *PhoneNumberRead.model_fields]


def test_answer_encoding_matches_the_models_on_edge_values() -> None:
    """Timestamps without microseconds or without a zone (as SQLite gives them) and asyncpg's
    own UUID class, which orjson does not take for a `uuid.UUID`."""
    agent_id, version_id = PgUUID(str(uuid.uuid4())), uuid.uuid4()
    row = NumberRow(
        id=uuid.uuid4(),
        phone_number="+14155550100",
        label=None,
        outbound_shareable=True,
        inbound_agent_id=agent_id,
        inbound_agent_version_id=version_id,
        inbound_version=3,
        outbound_agent_id=None,
        outbound_agent_version_id=None,
        outbound_version=None,
        created_at=datetime(2026, 12, 5, 1, 2, 3),
        updated_at=datetime(2026, 12, 5, 1, 2, 3, 450, tzinfo=UTC),
    )
    previous: dict[Slot, Holder | None] = {"inbound": Holder(agent_id, version_id, 2)}
    previous["outbound"] = None

    encoded = published_json([Published(row, previous)])

    document = {name: getattr(row, name) for name in PhoneNumberRead.model_fields}
    document["previous"] = {"inbound": Holder(agent_id, version_id, 2)._asdict(), "outbound": None}
    models = TypeAdapter(list[PublishedPhoneNumber])
    assert encoded == models.dump_json(models.validate_python([document]))
    assert b'"created_at":"2026-12-05T01:02:03Z"' in encoded


async def test_republishing_to_the_same_slot_leaves_the_record_alone(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number])
    before = await record(tenant, number)
    assert await publish_ok(tenant, agent["id"], 1, phone_numbers=[number]) == [before]
    assert await record(tenant, number) == before


async def test_concurrent_publishes_to_the_same_numbers_serialize(tenant: Tenant) -> None:
    agents = [await tenant.create_agent() for _ in range(4)]
    versions = [await tenant.create_version(agent["id"]) for agent in agents]
    numbers = [await tenant.register_number() for _ in range(3)]
    responses = await asyncio.gather(
        *(
            tenant.publish(agent["id"], 1, phone_numbers=numbers[::step], direction="both")
            for agent, step in zip(agents, (1, -1, 1, -1), strict=True)
        )
    )
    assert [r.status_code for r in responses] == [200] * 4
    candidates = {holds(version) for version in versions}
    for number in numbers:
        stored = await record(tenant, number)
        assert slot(stored, "inbound") in candidates
        assert slot(stored, "outbound") in candidates


# --- unassign -----------------------------------------------------------------------------------


async def test_unassign_clears_only_this_agents_slots(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    mine = await tenant.create_version(agent["id"])
    other_agent, other_version = await tenant.published_agent()
    own_number = await tenant.register_number()
    foreign_number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[own_number])
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[foreign_number])
    foreign_before = await record(tenant, foreign_number)

    touched = await publish_ok(
        tenant, agent["id"], 1, unassign_phone_numbers=[own_number, foreign_number]
    )
    assert sorted(r["phone_number"] for r in touched) == sorted([own_number, foreign_number])
    assert slot(await record(tenant, own_number), "inbound") == EMPTY
    assert await record(tenant, foreign_number) == foreign_before
    assert slot(foreign_before, "inbound") == holds(other_version)
    assert mine["version"] == 1


async def test_unassign_clears_any_version_of_this_agent(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number])
    await publish_ok(tenant, agent["id"], 2, unassign_phone_numbers=[number])
    assert slot(await record(tenant, number), "inbound") == EMPTY
    assert await live_version(tenant, agent["id"]) == 2


@pytest.mark.parametrize(
    ("direction", "cleared"),
    [
        ("inbound", ("inbound",)),
        ("outbound", ("outbound",)),
        ("both", ("inbound", "outbound")),
    ],
)
async def test_unassign_respects_direction(
    tenant: Tenant, direction: str, cleared: tuple[str, ...]
) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number], direction="both")

    await publish_ok(tenant, agent["id"], 1, unassign_phone_numbers=[number], direction=direction)
    stored = await record(tenant, number)
    for side in ("inbound", "outbound"):
        assert slot(stored, side) == (EMPTY if side in cleared else holds(version)), side


async def test_assign_and_unassign_in_one_request(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    old = await tenant.register_number()
    new = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[old])
    touched = await publish_ok(
        tenant, agent["id"], 1, phone_numbers=[new], unassign_phone_numbers=[old]
    )
    stored = [await record(tenant, new), await record(tenant, old)]
    assert sorted(touched, key=BY_NUMBER) == sorted(stored, key=BY_NUMBER)
    assert slot(await record(tenant, new), "inbound") == holds(version)
    assert slot(await record(tenant, old), "inbound") == EMPTY


# --- numbers: normalization, validation, all or nothing -----------------------------------------


async def test_numbers_are_normalized_and_deduplicated(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    first = await tenant.register_number()
    second = await tenant.register_number()
    spellings = [
        pretty(first),
        first,
        f"+1.{first[2:5]}.{first[5:8]}.{first[8:]}",
        f"+1 {first[2:5]} {first[5:]}",
        pretty(second),
    ]
    touched = await publish_ok(tenant, agent["id"], 1, phone_numbers=spellings)
    assert sorted(r["phone_number"] for r in touched) == sorted([first, second])
    for number in (first, second):
        stored = await record(tenant, number)
        assert slot(stored, "inbound") == holds(version)
        assert stored in touched


@pytest.mark.parametrize("bad", ["not a number", "+1 (415) 200-12", "+999", "", "415"])
async def test_unparseable_number_is_422_and_nothing_changes(tenant: Tenant, bad: str) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    good = await tenant.register_number()
    for body in ({"phone_numbers": [good, bad]}, {"unassign_phone_numbers": [bad]}):
        response = await tenant.publish(agent["id"], 1, **body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "invalid_phone_numbers"
        assert repr(bad) in response.json()["detail"]
    assert (await get_version(tenant, agent["id"], 1))["published"] is False
    assert await live_version(tenant, agent["id"]) is None
    assert slot(await record(tenant, good), "inbound") == EMPTY


async def test_same_number_in_both_lists_is_422(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    response = await tenant.publish(
        agent["id"], 1, phone_numbers=[number], unassign_phone_numbers=[pretty(number)]
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_phone_numbers"
    assert number in response.json()["detail"]
    assert (await get_version(tenant, agent["id"], 1))["published"] is False
    assert slot(await record(tenant, number), "inbound") == EMPTY


async def test_unregistered_number_is_404_and_nothing_changes(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    registered = await tenant.register_number()
    unregistered = unique_phone_number()
    response = await tenant.publish(
        agent["id"], 1, phone_numbers=[registered, pretty(unregistered)], direction="both"
    )
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "phone_numbers_not_registered"
    assert unregistered in body["detail"] and registered not in body["detail"]

    assert (await get_version(tenant, agent["id"], 1))["published"] is False
    assert await live_version(tenant, agent["id"]) is None
    stored = await record(tenant, registered)
    assert slot(stored, "inbound") == slot(stored, "outbound") == EMPTY


async def test_other_organizations_number_is_404_and_untouched(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    mine = await tenant.register_number()
    theirs = await other_tenant.register_number()
    other_agent, other_version = await other_tenant.published_agent()
    await publish_ok(other_tenant, other_agent["id"], 1, phone_numbers=[theirs])

    for body in (
        {"phone_numbers": [mine, theirs]},
        {"unassign_phone_numbers": [theirs]},
    ):
        response = await tenant.publish(agent["id"], 1, **body)
        assert response.status_code == 404, body
        assert response.json()["code"] == "phone_numbers_not_registered"
        assert theirs in response.json()["detail"]

    assert (await get_version(tenant, agent["id"], 1))["published"] is False
    assert slot(await record(tenant, mine), "inbound") == EMPTY
    assert slot(await record(other_tenant, theirs), "inbound") == holds(other_version)


# --- how assignments show up --------------------------------------------------------------------


async def test_agent_detail_lists_numbers_whose_slots_hold_it(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    other_agent, _ = await tenant.published_agent()
    inbound = await tenant.register_number()
    outbound = await tenant.register_number()
    unrelated = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[inbound])
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[outbound], direction="outbound")
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[unrelated])

    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    listed = {r["phone_number"]: r for r in detail["phone_numbers"]}
    assert set(listed) == {inbound, outbound}
    assert listed[inbound] == await record(tenant, inbound)
    assert slot(listed[inbound], "inbound") == holds(version)
    assert slot(listed[outbound], "outbound") == holds(version)
    assert slot(listed[outbound], "inbound") == EMPTY

    # Another agent taking the inbound slot removes it from this agent's detail.
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[inbound])
    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    assert [r["phone_number"] for r in detail["phone_numbers"]] == [outbound]

    listing = await tenant.get("/core/phone-numbers", params={"agent_id": agent["id"]})
    assert [r["phone_number"] for r in listing.json()["data"]] == [outbound]


def held(version: dict[str, Any]) -> dict[str, Any]:
    """How an answer's `previous` names the version a slot held."""
    return {"agent_id": version["agent_id"], "agent_version_id": version["id"], "version": 1}


async def test_publish_answer_names_what_each_slot_held_before(tenant: Tenant) -> None:
    """Taking a number away from another agent is visible in the answer, per slot."""
    agent = await tenant.create_agent()
    mine = await tenant.create_version(agent["id"])
    await tenant.create_version(agent["id"])
    other_agent, other_version = await tenant.published_agent()
    taken, empty, own, half = [await tenant.register_number() for _ in range(4)]
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[taken], direction="both")
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[half], direction="outbound")
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[own], direction="both")

    response = await tenant.publish(
        agent["id"], 2, phone_numbers=[taken, empty, own, half], direction="both"
    )

    assert response.status_code == 200, response.text
    previous = {r["phone_number"]: r["previous"] for r in response.json()}
    assert previous == {
        taken: {"inbound": held(other_version), "outbound": held(other_version)},
        empty: {"inbound": None, "outbound": None},
        own: {"inbound": held(mine), "outbound": held(mine)},
        half: {"inbound": None, "outbound": held(other_version)},
    }
    for answered in response.json():
        del answered["previous"]
        assert answered == await record(tenant, answered["phone_number"])


async def test_publish_answer_previous_covers_only_the_addressed_slots(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    other_agent, other_version = await tenant.published_agent()
    number, foreign = await tenant.register_number(), await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number], direction="both")
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[foreign], direction="both")

    response = await tenant.publish(
        agent["id"], 1, unassign_phone_numbers=[number, foreign], direction="outbound"
    )

    assert response.status_code == 200, response.text
    previous = {r["phone_number"]: r["previous"] for r in response.json()}
    # The foreign slot was not this agent's, so it still holds what `previous` names.
    assert previous == {
        number: {"outbound": held(version)},
        foreign: {"outbound": held(other_version)},
    }
    assert slot(await record(tenant, foreign), "outbound") == holds(other_version)


async def test_deleting_agent_empties_its_slots(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    other_agent, other_version = await tenant.published_agent()
    shared = await tenant.register_number()
    own = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[shared], direction="outbound")
    await publish_ok(tenant, other_agent["id"], 1, phone_numbers=[shared])
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[own], direction="both")

    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204

    shared_record = await record(tenant, shared)
    assert shared_record["outbound_agent_id"] is None
    assert shared_record["outbound_agent_version_id"] is None
    assert slot(shared_record, "inbound") == holds(other_version)
    own_record = await record(tenant, own)
    assert own_record["inbound_agent_id"] is None and own_record["outbound_agent_id"] is None
    assert own_record["inbound_agent_version_id"] is None
    assert own_record["outbound_agent_version_id"] is None

    response = await tenant.delete(f"/core/phone-numbers/{own}")
    assert response.status_code == 204
    assert (await tenant.get(f"/core/phone-numbers/{own}")).status_code == 404
    # The number still held by the other agent stays protected.
    assert (await tenant.delete(f"/core/phone-numbers/{shared}")).status_code == 409


async def test_deleting_agent_clears_slot_version_numbers(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    number = await tenant.register_number()
    await publish_ok(tenant, agent["id"], 1, phone_numbers=[number], direction="both")
    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204
    stored = await record(tenant, number)
    assert slot(stored, "inbound") == slot(stored, "outbound") == EMPTY


# --- tenancy ------------------------------------------------------------------------------------


async def test_other_organizations_agent_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"])
    theirs = await other_tenant.register_number()
    for body in ({}, {"phone_numbers": [theirs]}):
        response = await other_tenant.publish(agent["id"], 1, **body)
        assert response.status_code == 404
        assert response.json()["code"] == "agent_not_found"
    assert (await get_version(tenant, agent["id"], 1))["published"] is False
    assert await live_version(tenant, agent["id"]) is None
    assert slot(await record(other_tenant, theirs), "inbound") == EMPTY

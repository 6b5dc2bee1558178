"""SQL and LIKE metacharacters in filters match literally, and injection attempts inject nothing."""

from __future__ import annotations

import orjson
import pytest

from tests.factories import Tenant
from tests.hostile.world import World, refused, timed

NAMES = [
    "100% sure",
    "100X sure",
    "under_score",
    "underXscore",
    "back\\slash",
    "backslash",
    "it's",
    'say "hi"',
    "'; DROP TABLE agents; --",
    "Café",
    "plain",
]


async def names_matching(tenant: Tenant, name: str) -> list[str]:
    response = await timed(tenant.get("/core/agents", params={"name": name, "limit": 100}))
    assert response.status_code == 200, response.text
    return sorted(agent["name"] for agent in response.json()["data"])


async def test_name_filter_matches_metacharacters_literally(tenant: Tenant) -> None:
    for name in NAMES:
        await tenant.create_agent(name=name)
    expected = {
        "%": ["100% sure"],
        "100%": ["100% sure"],
        "_": ["under_score"],
        "r_s": ["under_score"],
        "\\": ["back\\slash"],
        "k\\s": ["back\\slash"],
        "'": ["'; DROP TABLE agents; --", "it's"],
        '"': ['say "hi"'],
        "'; DROP TABLE agents; --": ["'; DROP TABLE agents; --"],
        "' OR '1'='1": [],
        "%%": [],
        "\\%": [],
        "\\_": [],
        "[a-z]": [],
        "*": [],
        "X": ["100X sure", "underXscore"],  # the control: a plain substring does match
        "é": ["Café"],
    }
    for name, names in expected.items():
        assert await names_matching(tenant, name) == names, name
    assert len(await names_matching(tenant, "")) == len(NAMES)  # the table is still there


async def test_phone_number_filter_matches_metacharacters_literally(world: World) -> None:
    for text in ("%", "_", "\\", "'", "+1%", "'; DROP TABLE phone_numbers; --"):
        response = await timed(
            world.tenant.get("/core/phone-numbers", params={"phone_number": text})
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"] == [], text
    everything = await timed(world.tenant.get("/core/phone-numbers", params={"phone_number": "+1"}))
    assert [n["phone_number"] for n in everything.json()["data"]] == [world.number]


async def test_injection_in_paths_and_enum_filters_is_4xx(world: World) -> None:
    before = await world.snapshot()
    injection = "'; DROP TABLE phone_numbers; --"
    await refused(world.tenant.get(f"/core/phone-numbers/{injection}"), 404)
    await refused(world.tenant.patch(f"/core/phone-numbers/{injection}", json={"label": "x"}), 404)
    await refused(world.tenant.delete(f"/core/phone-numbers/{injection}"), 404)
    await refused(world.tenant.get(f"/core/agents/{injection}"), 422)
    await refused(
        world.tenant.get("/core/conversations", params={"status": "completed' OR '1'='1"}), 422
    )
    await refused(world.tenant.get("/core/workflows", params={"type": injection}), 422)
    await refused(
        world.tenant.get(
            f"/core/agents/{world.agent['id']}/versions/diff", params={"from": injection, "to": "1"}
        ),
        422,
    )
    assert await world.snapshot() == before


@pytest.mark.parametrize(
    "key",
    [
        'say "hi"',
        "back\\slash",
        "it's",
        "'; DROP TABLE agents; --",
        "Café",
        "a.b",
        "$",
        "[0]",
        "%",
        "_",
    ],
)
async def test_metadata_filter_keys_and_values_match_literally(tenant: Tenant, key: str) -> None:
    """SQLite looked keys up by JSON path, which never matched keys holding `"` or non-ASCII."""
    wanted = await tenant.create_agent(name="wanted", metadata={key: key, "nested": {key: [key]}})
    await tenant.create_agent(name="decoy", metadata={"other": key, "nested": {"other": [key]}})
    for metadata in ({key: key}, {"nested": {key: [key]}}, {key: key, "nested": {key: [key]}}):
        response = await timed(
            tenant.get("/core/agents", params={"metadata": orjson.dumps(metadata).decode()})
        )
        assert [a["id"] for a in response.json()["data"]] == [wanted["id"]], metadata
    for metadata in ({key: key + "%"}, {key: "_" + key}, {key + "x": key}, {key: None}):
        response = await timed(
            tenant.get("/core/agents", params={"metadata": orjson.dumps(metadata).decode()})
        )
        assert response.json()["data"] == [], metadata

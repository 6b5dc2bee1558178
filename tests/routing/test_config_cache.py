"""Resolve keeps the encoded telephone config of a version by (version id, revision) and the
statement says, on every call, whether the kept one answers (routing/service.py, ConfigCache).
Nothing a write changes may be answered stale: not by another app on the same database (another
process), not after the cache was emptied while a statement was in flight."""

from __future__ import annotations

import uuid
from typing import Any

from callplane.config import Settings
from callplane.routing import service
from callplane.routing.service import ConfigCache, PhoneAddress
from tests.apps import another_app
from tests.factories import Tenant
from tests.routing.test_resolve_api import (
    PHONE_CONFIG,
    RESOLVE,
    agent_with_version,
    phone_query,
    publish,
    resolved,
    sip_query,
)


async def test_another_app_sees_every_write_at_once(settings: Settings, tenant: Tenant) -> None:
    """Two apps on one database, each with its own cache (as two processes): what one writes,
    the other answers on its next call, config included."""
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    await tenant.post(f"/core/agents/{agent['id']}/deploy-as-sip")
    async with another_app(settings) as other:

        async def answer(query: str) -> dict[str, Any]:
            response = await other.get(RESOLVE + query, headers=tenant.headers)
            assert response.status_code == 200, response.text
            return dict(response.json())

        for _ in range(2):  # the second answer comes from the other app's cache
            first = await answer(phone_query(number))
            assert first == await resolved(tenant, phone_query(number))
            assert first["config"]["instructions"].endswith("short sentences.")
            assert (await answer(sip_query(agent["id"])))["version"]["version"] == 1

        await tenant.create_version(agent["id"], config={"instructions": "Version two."})
        await publish(tenant, agent["id"], 2, [number])
        second = await answer(phone_query(number))
        assert second["version"]["version"] == 2
        assert second["config"]["instructions"] == "Version two."
        assert (await answer(sip_query(agent["id"])))["config"]["instructions"] == "Version two."

        renamed = await tenant.put(f"/core/agents/{agent['id']}", json={"name": "Reception"})
        assert renamed.status_code == 200
        assert (await answer(phone_query(number)))["agent"]["name"] == "Reception"

        rollback = await tenant.post(f"/core/agents/{agent['id']}/rollback", json={"to_version": 1})
        assert rollback.status_code == 200, rollback.text
        back = await answer(phone_query(number))
        assert back["version"]["version"] == 1 and back["config"] == first["config"]
        assert back == await resolved(tenant, phone_query(number))


class _EmptiedInFlight(ConfigCache):
    """Empties itself right after naming a version to the statement: the row comes without the
    config, and neither the config nor an answer made of it is held any more."""

    def known(self, address: service.Address) -> tuple[uuid.UUID, int] | None:
        version = super().known(address)
        self._configs.clear()
        self._answers.clear()
        return version


async def test_a_config_emptied_while_the_statement_ran_is_read_again(tenant: Tenant) -> None:
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    expected = await resolved(tenant, phone_query(number))
    cache = _EmptiedInFlight()
    address = PhoneAddress(number, "inbound")
    for _ in range(3):
        answer = await service.resolve(
            tenant.database, tenant.organization_id, address, "sip.test.local", cache
        )
        assert answer.match.config_source is not None  # read again, not taken as held
        assert answer.document == (await tenant.get(RESOLVE + phone_query(number))).content
        assert answer.etag == expected["etag"]


async def test_the_statement_leaves_out_only_the_config_it_is_told_is_held(tenant: Tenant) -> None:
    agent, _ = await agent_with_version(tenant, {**PHONE_CONFIG, "instructions": "One."})
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    cache = ConfigCache()
    address = PhoneAddress(number, "inbound")
    first = await service.resolve(tenant.database, tenant.organization_id, address, "x", cache)
    assert first.match.config_source is not None
    held = await service.resolve(tenant.database, tenant.organization_id, address, "x", cache)
    assert held.match.config_source is None  # the database did not send it again
    assert held.document == first.document
    # Another version in the slot: its config comes with the row.
    await tenant.create_version(agent["id"], config={"instructions": "Two."})
    await publish(tenant, agent["id"], 2, [number])
    moved = await service.resolve(tenant.database, tenant.organization_id, address, "x", cache)
    assert moved.match.config_source is not None
    assert b'"instructions":"Two."' in moved.document


async def test_an_answer_is_kept_under_everything_it_is_made_of(tenant: Tenant) -> None:
    """The same row answers with the kept ETag and JSON (not made again); a row that differs in
    anything (here the agent's name and revision) is another answer, made from it."""
    agent, _ = await agent_with_version(tenant)
    number = await tenant.register_number()
    await publish(tenant, agent["id"], 1, [number])
    cache = ConfigCache()
    address = PhoneAddress(number, "inbound")
    first = await service.resolve(tenant.database, tenant.organization_id, address, "x", cache)
    again = await service.resolve(tenant.database, tenant.organization_id, address, "x", cache)
    assert again.document is first.document and again.etag == first.etag
    renamed = await tenant.put(f"/core/agents/{agent['id']}", json={"name": "Front desk"})
    assert renamed.status_code == 200
    after = await service.resolve(tenant.database, tenant.organization_id, address, "x", cache)
    assert after.etag != first.etag
    assert after.document == (await tenant.get(RESOLVE + phone_query(number))).content
    assert b'"name":"Front desk"' in after.document


def test_the_cache_is_bounded() -> None:
    cache = ConfigCache()
    cache.MAX_BYTES = 100
    cache.MAX_ADDRESSES = 3
    versions = [(uuid.uuid4(), 1) for _ in range(5)]
    for n, version in enumerate(versions):
        cache.keep(PhoneAddress(f"+1415555000{n}", "inbound"), version, b"x" * 40)
        assert cache._configs.bytes <= 100 and len(cache._last_seen) <= 3
    assert cache.config(versions[-1]) == b"x" * 40
    assert cache.config(versions[0]) is None
    assert cache.known(PhoneAddress("+14155550000", "inbound")) is None
    assert cache.known(PhoneAddress("+14155550004", "inbound")) == versions[-1]
    for n, (version_id, revision) in enumerate(versions):
        key = (uuid.uuid4(), "agent", 1, version_id, 1, revision, None)
        cache.keep_answer(key, f'"{n}"', b"y" * 40)
        assert cache._answers.bytes <= 100 and cache.answer(key) == (f'"{n}"', b"y" * 40)

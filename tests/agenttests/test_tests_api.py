"""`/core/agents/{id}/tests` CRUD and `/test-settings`: shapes, bounds, scopes, tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from tests.agenttests.helpers import create_test, scripted
from tests.factories import Tenant

EVERY_KIND: list[dict[str, Any]] = [
    {"type": "reply_contains", "text": "cleaning", "turn": 1},
    {"type": "reply_not_contains", "text": "sorry", "case_sensitive": True},
    {"type": "reply_matches", "pattern": "[0-9]{1,2}:[0-9]{2}"},
    {"type": "calls_tool", "name": "book", "arguments": {"slot": "9:00"}},
    {"type": "does_not_call_tool", "name": "cancel", "turn": 2},
    {"type": "ends_with", "action": "hangup"},
    {"type": "ends_with", "action": "transfer", "target": "+15551234567"},
    {"type": "max_turns", "turns": 4},
    {"type": "judge", "rubric": "Polite and brief."},
]


async def test_create_read_list_replace_delete(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    base = f"/core/agents/{agent['id']}/tests"
    created = await create_test(
        tenant,
        agent["id"],
        expectations=EVERY_KIND,
        tool_mocks={"book": {"status": 201, "body": {"ok": True}}},
        variables={"customer": "Ana"},
    )
    assert created["revision"] == 1 and created["name"] == "books a cleaning"
    assert created["turns"] == ["Hi, I need a cleaning."] and created["caller"] is None
    assert [e["type"] for e in created["expectations"]] == [e["type"] for e in EVERY_KIND]
    assert created["expectations"][0]["turn"] == 1
    assert created["expectations"][1]["turn"] is None
    assert created["tool_mocks"] == {"book": {"status": 201, "body": {"ok": True}}}
    assert (await tenant.get(f"{base}/{created['id']}")).json() == created

    for name in ("second", "third"):
        await create_test(tenant, agent["id"], name=name)
    first_page = (await tenant.get(base, params={"limit": 2})).json()
    assert [t["name"] for t in first_page["data"]] == ["third", "second"]
    cursor = first_page["pagination"]["next_cursor"]
    rest = (await tenant.get(base, params={"limit": 2, "cursor": cursor})).json()
    assert [t["name"] for t in rest["data"]] == ["books a cleaning"]
    assert rest["pagination"]["next_cursor"] is None

    simulated = {
        "name": "angry caller",
        "caller": {"persona": "An impatient patient.", "goal": "Cancel an appointment."},
        "expectations": [{"type": "judge", "rubric": "Stays calm."}],
    }
    replaced = await tenant.put(f"{base}/{created['id']}", json=simulated)
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["revision"] == 2 and body["turns"] is None
    assert body["caller"] == {**simulated["caller"], "max_turns": 6}
    assert body["tool_mocks"] == {}

    assert (await tenant.delete(f"{base}/{created['id']}")).status_code == 204
    assert (await tenant.get(f"{base}/{created['id']}")).status_code == 404
    assert (await tenant.delete(f"{base}/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"caller": {"persona": "p", "goal": "g"}},  # both turns and caller
        {"turns": None},  # neither
        {"turns": []},
        {"expectations": []},
        {"expectations": [{"type": "reply_matches", "pattern": "("}]},
        {"expectations": [{"type": "reply_smiles"}]},
        {"expectations": [{"type": "ends_with", "action": "hangup", "target": "+15551234567"}]},
        {"expectations": [{"type": "max_turns", "turns": 0}]},
        {"expectations": [{"type": "reply_contains", "text": "x", "turn": 0}]},
        {"expectations": [{"type": "calls_tool", "name": "not a name"}]},
        {"tool_mocks": {"book": {"status": 99}}},
        {"name": ""},
        {"name": " padded "},
        {"channel": "phone"},
        {"unknown": 1},
        {"turns": ["x" * 4001]},
    ],
)
async def test_bad_input_is_422_and_changes_nothing(tenant: Tenant, change: dict[str, Any]) -> None:
    agent = await tenant.create_agent()
    base = f"/core/agents/{agent['id']}/tests"
    body = {**scripted(), **change}
    response = await tenant.post(base, json=body)
    assert response.status_code == 422, response.text
    assert (await tenant.get(base)).json()["data"] == []


async def test_names_are_unique_per_agent(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    other = await tenant.create_agent()
    first = await create_test(tenant, agent["id"])
    again = await tenant.post(f"/core/agents/{agent['id']}/tests", json=scripted())
    assert again.status_code == 409 and again.json()["code"] == "test_name_taken"
    await create_test(tenant, other["id"])  # another agent may use the name
    second = await create_test(tenant, agent["id"], name="second")
    renamed = await tenant.put(
        f"/core/agents/{agent['id']}/tests/{second['id']}", json=scripted(name=first["name"])
    )
    assert renamed.status_code == 409
    unchanged = await tenant.get(f"/core/agents/{agent['id']}/tests/{second['id']}")
    assert unchanged.json()["name"] == "second" and unchanged.json()["revision"] == 1


async def test_scopes_and_other_organizations(tenant: Tenant, other_tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    test = await create_test(tenant, agent["id"])
    base = f"/core/agents/{agent['id']}/tests"
    reader = await tenant.key_with("agents:read")
    assert (await tenant.client.get(base, headers=reader)).status_code == 200
    refused = await tenant.client.post(base, json=scripted(name="x"), headers=reader)
    assert refused.status_code == 403
    put = await tenant.client.put(
        f"/core/agents/{agent['id']}/test-settings",
        json={"require_passing_tests": True},
        headers=reader,
    )
    assert put.status_code == 403
    for method, url in [
        ("GET", base),
        ("GET", f"{base}/{test['id']}"),
        ("DELETE", f"{base}/{test['id']}"),
        ("GET", f"/core/agents/{agent['id']}/test-settings"),
    ]:
        assert (await other_tenant.request(method, url)).status_code == 404, url
    created = await other_tenant.post(base, json=scripted(name="intruder"))
    assert created.status_code == 404
    assert len((await tenant.get(base)).json()["data"]) == 1
    # another agent's test under this agent's path is not found either
    other_agent = await tenant.create_agent()
    assert (
        await tenant.get(f"/core/agents/{other_agent['id']}/tests/{test['id']}")
    ).status_code == 404


async def test_settings_default_to_off_and_can_be_turned_on(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    url = f"/core/agents/{agent['id']}/test-settings"
    assert (await tenant.get(url)).json() == {
        "agent_id": agent["id"],
        "require_passing_tests": False,
    }
    assert (await tenant.put(url, json={"require_passing_tests": True})).status_code == 200
    assert (await tenant.get(url)).json()["require_passing_tests"] is True
    assert (await tenant.put(url, json={"require_passing_tests": "maybe"})).status_code == 422
    assert (await tenant.put(url, json={})).status_code == 422
    assert (await tenant.get(url)).json()["require_passing_tests"] is True

"""SIP deployment (SPEC §6): only published agents, idempotent deploy and removal, tenancy."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import Tenant

DISABLED = {"enabled": False, "sip_uri": None, "deployed_at": None}


def sip_url(agent_id: str) -> str:
    return f"/core/agents/{agent_id}/deploy-as-sip"


async def sip_endpoint(tenant: Tenant, agent_id: str) -> dict[str, Any]:
    response = await tenant.get(f"/core/agents/{agent_id}")
    assert response.status_code == 200
    return dict(response.json()["sip_endpoint"])


async def test_deploy_requires_a_published_version(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    for _ in range(2):  # no versions, then only a draft
        response = await tenant.post(sip_url(agent["id"]))
        assert response.status_code == 409
        assert response.json() == {
            "detail": "The agent has no published version; publish one first.",
            "code": "agent_not_published",
        }
        assert await sip_endpoint(tenant, agent["id"]) == DISABLED
        await tenant.create_version(agent["id"])


async def test_deploy_is_idempotent_and_shows_in_detail(tenant: Tenant) -> None:
    agent, _ = await tenant.published_agent()
    response = await tenant.post(sip_url(agent["id"]))
    assert response.status_code == 200, response.text
    deployed = response.json()
    assert deployed["enabled"] is True
    assert deployed["sip_uri"] == f"sip:{agent['id']}@sip.test.local"
    assert deployed["deployed_at"].endswith("Z")
    assert set(deployed) == {"enabled", "sip_uri", "deployed_at"}

    again = await tenant.post(sip_url(agent["id"]))
    assert again.status_code == 200
    assert again.json() == deployed
    assert await sip_endpoint(tenant, agent["id"]) == deployed


async def test_remove_is_idempotent_and_redeploy_is_fresh(tenant: Tenant) -> None:
    agent, _ = await tenant.published_agent()
    first = (await tenant.post(sip_url(agent["id"]))).json()

    for _ in range(2):
        response = await tenant.delete(sip_url(agent["id"]))
        assert response.status_code == 204 and response.content == b""
        assert await sip_endpoint(tenant, agent["id"]) == DISABLED

    redeployed = (await tenant.post(sip_url(agent["id"]))).json()
    assert redeployed["sip_uri"] == first["sip_uri"]
    assert redeployed["deployed_at"] >= first["deployed_at"]


async def test_remove_without_deployment_is_204(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    response = await tenant.delete(sip_url(agent["id"]))
    assert response.status_code == 204
    assert await sip_endpoint(tenant, agent["id"]) == DISABLED


async def test_unknown_agent_is_404(tenant: Tenant) -> None:
    for method in ("POST", "DELETE"):
        response = await tenant.request(method, sip_url(str(uuid.uuid4())))
        assert response.status_code == 404, method
        assert response.json()["code"] == "agent_not_found"


async def test_other_organization_sees_404(tenant: Tenant, other_tenant: Tenant) -> None:
    deployed_agent, _ = await tenant.published_agent()
    deployed = (await tenant.post(sip_url(deployed_agent["id"]))).json()
    undeployed_agent, _ = await tenant.published_agent()

    response = await other_tenant.delete(sip_url(deployed_agent["id"]))
    assert response.status_code == 404 and response.json()["code"] == "agent_not_found"
    response = await other_tenant.post(sip_url(undeployed_agent["id"]))
    assert response.status_code == 404 and response.json()["code"] == "agent_not_found"

    assert await sip_endpoint(tenant, deployed_agent["id"]) == deployed
    assert await sip_endpoint(tenant, undeployed_agent["id"]) == DISABLED


async def test_deploy_and_remove_need_manage_scope(tenant: Tenant) -> None:
    agent, _ = await tenant.published_agent()
    reader = await tenant.key_with("agents:read")
    for method in ("POST", "DELETE"):
        response = await tenant.client.request(method, sip_url(agent["id"]), headers=reader)
        assert response.status_code == 403, method
        assert response.json() == {
            "detail": "Missing scope: requires agents:manage.",
            "code": "forbidden",
        }
    assert await sip_endpoint(tenant, agent["id"]) == DISABLED

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.factories import Tenant
from tests.scaffolding.conftest import dental_site
from tests.support.site import LocalSite, Route
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]


async def demo(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await tenant.post("/core/agents/create-demo", json=body)
    assert response.status_code == 202, response.text
    return await wait_for_workflow(tenant, response.json()["workflow_id"])


async def test_demo_with_a_free_number(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    taken_agent, _ = await tenant.published_agent()
    taken = await tenant.register_number()
    assert (await tenant.publish(taken_agent["id"], 1, phone_numbers=[taken])).status_code == 200
    free = await tenant.register_number()

    run = await demo(
        tenant,
        company_website=site.url,
        instructions="Always offer the spring whitening discount.",
        include_phone_number=True,
    )
    assert run["status"] == "succeeded", run
    assert run["type"] == "create_demo"
    result = run["result"]
    assert result["phone_number"] == free and result["warnings"] == []
    detail = (await tenant.get(f"/core/agents/{result['agent_id']}")).json()
    assert detail["is_demo"] is True and detail["name"] == "Acme Dental"  # from the site
    assert [n["phone_number"] for n in detail["phone_numbers"]] == [free]
    assert detail["phone_numbers"][0]["inbound_version"] == 1
    assert detail["phone_numbers"][0]["outbound_agent_id"] is None
    instructions = (await tenant.get(f"/core/agents/{result['agent_id']}/versions/1")).json()[
        "config"
    ]["instructions"]
    assert "Always offer the spring whitening discount." in instructions
    still_taken = (await tenant.get(f"/core/phone-numbers/{taken}")).json()
    assert still_taken["inbound_agent_id"] == taken_agent["id"]


async def test_demo_without_a_free_number_warns(tenant: Tenant, serve: Serve) -> None:
    site = serve(dental_site())
    run = await demo(tenant, company_website=site.url, include_phone_number=True)
    assert run["status"] == "succeeded", run
    assert "phone_number" not in run["result"]
    assert any("No free phone number" in w for w in run["result"]["warnings"])
    detail = (await tenant.get(f"/core/agents/{run['result']['agent_id']}")).json()
    assert detail["live_version"] == 1 and detail["sip_endpoint"]["enabled"] is True


async def test_demo_requires_a_website(tenant: Tenant) -> None:
    for body in (
        {},
        {"company_website": "mailto:x@y.z"},
        {"company_website": "http://[::1"},
        {"company_website": "https://a.test:99999/"},
        {"company_website": "https://user:pw@a.test/"},
        {"company_website": "a.test", "x": 1},
    ):
        assert (await tenant.post("/core/agents/create-demo", json=body)).status_code == 422

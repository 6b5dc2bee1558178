"""What a webhook reveals: its URL (which may carry a token) stays behind webhooks:manage, and the
guard's refusals do not map internal addresses for a tenant."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from callplane.webhooks import sender
from tests.factories import Tenant
from tests.support.receiver import Receiver
from tests.webhooks.helpers import all_finished, create_webhook, wait_for_deliveries

TOKEN = "T0KEN-in-the-path-" + uuid.uuid4().hex


async def audit_text(tenant: Tenant) -> str:
    response = await tenant.get("/core/audit-events?limit=100&resource_type=webhook")
    assert response.status_code == 200
    return response.text


async def test_the_audit_log_keeps_the_host_not_the_url(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, f"{receiver.url}/hooks/{TOKEN}", ["agent.created"])
    moved = await tenant.patch(
        f"/core/webhooks/{webhook['id']}", json={"url": f"{receiver.url}/other/{TOKEN}x"}
    )
    assert moved.status_code == 200
    assert (await tenant.delete(f"/core/webhooks/{webhook['id']}")).status_code == 204
    logged = await audit_text(tenant)
    assert "webhook.created" in logged and "webhook.deleted" in logged
    assert "127.0.0.1" in logged
    assert TOKEN not in logged


async def test_a_redelivery_is_audited(tenant: Tenant, receivers: Callable[..., Receiver]) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    await tenant.create_agent()
    [delivered] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    again = await tenant.post(
        f"/core/webhooks/{webhook['id']}/deliveries/{delivered['id']}/redeliver"
    )
    assert again.status_code == 202
    events = await tenant.get("/core/audit-events?action=webhook.redelivered")
    [event] = events.json()["data"]
    assert event["resource_id"] == webhook["id"]
    assert event["changes"] == {"delivery_id": again.json()["id"], "of": delivered["id"]}


async def test_an_internationalized_host_is_stored_in_ascii(tenant: Tenant) -> None:
    created = await tenant.post(
        "/core/webhooks", json={"url": "https://bücher.example/hook", "events": ["*"]}
    )
    assert created.status_code == 201, created.text
    assert created.json()["url"] == "https://xn--bcher-kva.example/hook"


async def test_a_refusal_does_not_name_the_address() -> None:
    outcome = await sender.post(
        "http://localhost:9/hook", b"{}", {}, timeout=2.0, allow_private_networks=False
    )
    assert outcome.permanent and outcome.error is not None
    assert "127.0.0.1" not in outcome.error and "::1" not in outcome.error

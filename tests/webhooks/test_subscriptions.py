"""`/core/webhooks`: subscriptions, their validation, and the secret shown once."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest

from callplane.config import Settings
from tests.factories import Tenant
from tests.webhooks.helpers import create_webhook

URL = "https://hooks.example.com/callplane"
# Subscriptions in this module hear nothing (no test here imports conversations), or are
# inactive: no delivery is ever attempted to these example hosts.
QUIET = ["conversations.imported"]


async def listed(tenant: Tenant) -> list[dict[str, Any]]:
    response = await tenant.get("/core/webhooks?limit=100")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def test_the_secret_is_shown_once(tenant: Tenant) -> None:
    created = await create_webhook(tenant, URL, ["agent.created"], description="CRM sync")
    secret = created.pop("secret")
    assert secret.startswith("whsec_") and len(secret) > 40
    # Standard Webhooks format: base64 (standard alphabet, padded) of a 32-byte random key.
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert created["url"] == URL and created["events"] == ["agent.created"]
    assert created["active"] is True and created["description"] == "CRM sync"

    got = await tenant.get(f"/core/webhooks/{created['id']}")
    assert got.status_code == 200 and got.json() == created
    assert await listed(tenant) == [created]
    patched = await tenant.patch(f"/core/webhooks/{created['id']}", json={"active": False})
    assert patched.status_code == 200 and "secret" not in patched.json()

    rotated = await tenant.post(f"/core/webhooks/{created['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret
    everything = str([await listed(tenant), (await tenant.get("/core/audit-events")).json()])
    assert secret not in everything and new_secret not in everything
    assert "secret" not in (await tenant.get(f"/core/webhooks/{created['id']}")).json()


async def test_update_list_and_delete(tenant: Tenant) -> None:
    first = await create_webhook(tenant, URL, ["*"], description="first", active=False)
    second = await create_webhook(tenant, "http://hooks.example.com:8080/x?y=1", QUIET)

    patched = await tenant.patch(
        f"/core/webhooks/{first['id']}",
        json={"url": "https://other.example.com/", "events": ["workflow.*"], "description": None},
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["url"] == "https://other.example.com/" and body["events"] == ["workflow.*"]
    assert body["description"] is None and body["active"] is False
    untouched = await tenant.patch(f"/core/webhooks/{first['id']}", json={})
    assert untouched.status_code == 200 and untouched.json()["events"] == ["workflow.*"]

    seen: list[str] = []
    cursor = ""
    while True:
        page = await tenant.get(f"/core/webhooks?limit=1{cursor}")
        assert page.status_code == 200
        seen += [w["id"] for w in page.json()["data"]]
        next_cursor = page.json()["pagination"]["next_cursor"]
        if next_cursor is None:
            break
        cursor = f"&cursor={next_cursor}"
    assert seen == [second["id"], first["id"]]  # newest first

    assert (await tenant.delete(f"/core/webhooks/{first['id']}")).status_code == 204
    assert (await tenant.get(f"/core/webhooks/{first['id']}")).status_code == 404
    assert (await tenant.delete(f"/core/webhooks/{first['id']}")).status_code == 404
    assert [w["id"] for w in await listed(tenant)] == [second["id"]]

    audit = (await tenant.get("/core/audit-events?resource_type=webhook&limit=100")).json()
    assert [e["action"] for e in audit["data"]] == [
        "webhook.deleted",
        "webhook.updated",
        "webhook.created",
        "webhook.created",
    ]
    assert audit["data"][1]["changes"]["events"] == {"from": ["*"], "to": ["workflow.*"]}


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/", "events": ["*"]},
        {"url": "not a url", "events": ["*"]},
        {"url": "https://", "events": ["*"]},
        {"url": "https://user:pw@example.com/", "events": ["*"]},
        {"url": "https://example.com/#top", "events": ["*"]},
        {"url": "https://exa mple.com/", "events": ["*"]},
        {"url": "https://example.com:99999/", "events": ["*"]},
        {"url": "https://example.com/" + "x" * 2048, "events": ["*"]},
        {"url": URL, "events": []},
        {"url": URL, "events": ["agent.nope"]},
        {"url": URL, "events": ["nope.*"]},
        {"url": URL, "events": ["agent*"]},
        {"url": URL, "events": ["*.created"]},
        {"url": URL, "events": [".*"]},
        {"url": URL, "events": ["agent.created", 3]},
        {"url": URL, "events": "*"},
        {"url": URL, "events": ["*"], "secret": "mine"},
        {"url": URL, "events": ["*"], "description": "x" * 501},
        {"events": ["*"]},
    ],
)
async def test_invalid_subscriptions_are_422(tenant: Tenant, body: dict[str, Any]) -> None:
    response = await tenant.post("/core/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert await listed(tenant) == []


async def test_invalid_updates_are_422_and_change_nothing(tenant: Tenant) -> None:
    created = await create_webhook(tenant, URL, ["agent.created"])
    created.pop("secret")
    bodies: list[dict[str, Any]] = [
        {"url": None},
        {"events": None},
        {"active": None},
        {"events": []},
        {"events": ["phone_numbers.created"]},
        {"url": "javascript:alert(1)"},
        {"unknown": 1},
    ]
    for body in bodies:
        response = await tenant.patch(f"/core/webhooks/{created['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await tenant.get(f"/core/webhooks/{created['id']}")).json() == created


async def test_patterns_are_kept_once_each(tenant: Tenant) -> None:
    events = ["agent.version.*", "agent.*", "api_key.created", "agent.*", "*"]
    created = await create_webhook(tenant, URL, events, active=False)
    assert created["events"] == ["agent.version.*", "agent.*", "api_key.created", "*"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://api.localhost/hook",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0.0.0.0/",
    ],
)
async def test_private_destinations_are_refused_when_the_guard_is_on(
    tenant: Tenant, settings: Settings, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setattr(settings, "crawler_allow_private_networks", False)
    response = await tenant.post("/core/webhooks", json={"url": url, "events": ["*"]})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_url_refused"
    created = await create_webhook(tenant, URL, QUIET)
    moved = await tenant.patch(f"/core/webhooks/{created['id']}", json={"url": url})
    assert moved.status_code == 422 and moved.json()["code"] == "webhook_url_refused"
    assert (await tenant.get(f"/core/webhooks/{created['id']}")).json()["url"] == URL


async def test_every_route_needs_webhooks_manage(tenant: Tenant) -> None:
    created = await create_webhook(tenant, URL, QUIET)
    for scopes in (("agents:manage",), ("audit:read",), ("agents:read", "api_keys:manage")):
        headers = await tenant.key_with(*scopes)
        for method, path in (
            ("GET", "/core/webhooks"),
            ("GET", f"/core/webhooks/{created['id']}"),
            ("GET", f"/core/webhooks/{created['id']}/deliveries"),
        ):
            response = await tenant.client.request(method, path, headers=headers)
            assert response.status_code == 403, (scopes, path)
    headers = await tenant.key_with("webhooks:manage")
    response = await tenant.client.get("/core/webhooks", headers=headers)
    assert response.status_code == 200


async def test_another_organizations_webhooks_are_not_found(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    created = await create_webhook(tenant, URL, QUIET)
    base = f"/core/webhooks/{created['id']}"
    for method, path, body in (
        ("GET", base, None),
        ("PATCH", base, {"active": False}),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("GET", f"{base}/deliveries", None),
        ("GET", f"{base}/deliveries/{uuid.uuid4()}", None),
    ):
        response = await other_tenant.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "webhook_not_found"
    assert await listed(other_tenant) == []
    assert (await tenant.get(base)).json()["active"] is True


async def test_bad_delivery_filters_are_4xx(tenant: Tenant) -> None:
    created = await create_webhook(tenant, URL, QUIET)
    for query in ("status=lost", "cursor=garbage", "limit=0"):
        response = await tenant.get(f"/core/webhooks/{created['id']}/deliveries?{query}")
        assert 400 <= response.status_code < 500, (query, response.text)
    assert (await tenant.get(f"/core/webhooks/{uuid.uuid4()}/deliveries")).status_code == 404
    assert (await tenant.get("/core/webhooks/not-an-id")).status_code == 422

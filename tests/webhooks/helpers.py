from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tests.factories import Tenant


async def create_webhook(
    tenant: Tenant, url: str, events: list[str], **body: Any
) -> dict[str, Any]:
    response = await tenant.post("/core/webhooks", json={"url": url, "events": events, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def deliveries(tenant: Tenant, webhook_id: str, query: str = "") -> list[dict[str, Any]]:
    response = await tenant.get(f"/core/webhooks/{webhook_id}/deliveries?limit=100{query}")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def wait_for_deliveries(
    tenant: Tenant,
    webhook_id: str,
    done: Callable[[list[dict[str, Any]]], bool],
    within: float = 15.0,
) -> list[dict[str, Any]]:
    """The webhook's deliveries (newest first) once `done(deliveries)` holds."""
    deadline = time.monotonic() + within
    while True:
        found = await deliveries(tenant, webhook_id)
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries of {webhook_id} never got there: {found}")
        await asyncio.sleep(0.05)


def all_finished(found: list[dict[str, Any]]) -> bool:
    return bool(found) and all(d["status"] != "pending" for d in found)

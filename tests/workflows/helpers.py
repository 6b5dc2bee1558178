"""Waiting for workflows through the public API, as a client would."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.factories import Tenant

FINISHED = {"succeeded", "failed", "cancelled"}


async def wait_for_workflow(
    tenant: Tenant, workflow_id: str, within: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        response = await tenant.get(f"/core/workflows/{workflow_id}")
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] in FINISHED:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"workflow {workflow_id} still {run['status']}: {run}")
        await asyncio.sleep(0.05)

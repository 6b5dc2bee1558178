"""`knowledge.search` in the SDK, sync and async, in-process on the app."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from callplane.client import AsyncClient, Client, NotFound, ValidationFailed
from callplane.db.engine import Database
from callplane.knowledge.schemas import SearchResult
from tests.factories import Tenant
from tests.knowledge.test_search import make_collection
from tests.support.bridge import AppBridge


async def test_async_and_sync_search(
    app_client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    collection_id = await make_collection(database, tenant.organization_id)
    app = app_client.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)
    async with AsyncClient("http://testserver", tenant.api_key, transport=transport) as sdk:
        results = await sdk.knowledge.search(collection_id, "Saturday opening", limit=2)
        assert 1 <= len(results) <= 2 and all(isinstance(r, SearchResult) for r in results)
        assert results[0].url == "https://clinic.test/hours"
        with pytest.raises(NotFound):
            await sdk.knowledge.search(uuid.uuid4(), "hours")
        with pytest.raises(ValidationFailed):
            await sdk.knowledge.search(collection_id, "hours", limit=500)

    bridge = AppBridge(app, asyncio.get_running_loop())

    def sync_search() -> list[SearchResult]:
        with Client("http://testserver", tenant.api_key, transport=bridge) as client:
            return client.knowledge.search(str(collection_id), "emergency", mode="keyword")

    found = await asyncio.to_thread(sync_search)
    assert found[0].url == "https://clinic.test/emergencies"

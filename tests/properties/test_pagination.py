"""Keyset pagination (SPEC §1): walking a list with `next_cursor` visits every row that existed
when the walk began exactly once, in order, however rows are inserted (or the cursor's own row
deleted) between page fetches.

How hypothesis meets asyncio here: the tests are `async def` functions decorated with `@given`.
pytest-asyncio (>= 0.2x, auto mode) recognises such tests and wraps hypothesis' *inner* test, so
each generated example is one coroutine run to completion on the session event loop — the same loop
the app, its engine and its connection pool live on. Only session-scoped fixtures are used
(`tenants`), because hypothesis reruns the body many times within one fixture setup; each example
makes its own organization, so examples never see each other's rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import Tenant, TenantFactory


@dataclass(frozen=True)
class WalkPlan:
    rows_before: int  # rows that exist when the walk starts
    page_size: int
    inserts_after_page: tuple[int, ...]  # rows inserted after the n-th page (0 when past the end)
    delete_cursor_row: bool  # delete the last row of each page before fetching the next one


walk_plans = st.builds(
    WalkPlan,
    rows_before=st.integers(0, 14),
    page_size=st.integers(1, 10),
    inserts_after_page=st.lists(st.integers(0, 3), max_size=12).map(tuple),
    delete_cursor_row=st.booleans(),
)

property_settings = settings(max_examples=25, deadline=None)


async def _walk(
    tenant: Tenant,
    url: str,
    plan: WalkPlan,
    insert: Any,
    delete: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Page through `url`, calling `insert()`/`delete(row)` between pages as `plan` says.
    Returns the rows seen and the rows inserted along the way."""
    seen: list[dict[str, Any]] = []
    inserted: list[dict[str, Any]] = []
    cursor: str | None = None
    # Even one row per page ends after this many pages; a longer walk is itself a failure.
    max_pages = plan.rows_before + sum(plan.inserts_after_page) + 1
    for page_number in range(max_pages):
        params: dict[str, Any] = {"limit": plan.page_size}
        if cursor is not None:
            params["cursor"] = cursor
        response = await tenant.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["pagination"]["limit"] == plan.page_size
        page = body["data"]
        assert len(page) <= plan.page_size
        seen.extend(page)
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return seen, inserted
        assert len(page) == plan.page_size  # only a full page may promise more
        if plan.delete_cursor_row:
            await delete(page[-1])
        extra = plan.inserts_after_page[page_number : page_number + 1] or (0,)
        for _ in range(extra[0]):
            inserted.append(await insert())
    raise AssertionError(f"no last page after {max_pages} pages")


def _agent_key(agent: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    return datetime.fromisoformat(agent["created_at"]), uuid.UUID(agent["id"])


@property_settings
@given(plan=walk_plans)
async def test_agent_walk_visits_existing_rows_once_in_order(
    tenants: TenantFactory, plan: WalkPlan
) -> None:
    tenant = await tenants.create()
    before = [await tenant.create_agent(name=f"Agent {i}") for i in range(plan.rows_before)]

    async def insert() -> dict[str, Any]:
        return await tenant.create_agent(name="Inserted while paging")

    async def delete(agent: dict[str, Any]) -> None:
        assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204

    seen, inserted = await _walk(tenant, "/core/agents", plan, insert, delete)

    ids = [agent["id"] for agent in seen]
    assert len(ids) == len(set(ids)), "a row was repeated"
    keys = [_agent_key(agent) for agent in seen]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    expected = [a["id"] for a in sorted(before, key=_agent_key, reverse=True)]
    assert [i for i in ids if i not in {a["id"] for a in inserted}] == expected


@property_settings
@given(plan=walk_plans)
async def test_version_walk_visits_existing_rows_once_in_order(
    tenants: TenantFactory, plan: WalkPlan
) -> None:
    tenant = await tenants.create()
    agent = await tenant.create_agent()
    before = [await tenant.create_version(agent["id"]) for _ in range(plan.rows_before)]
    url = f"/core/agents/{agent['id']}/versions"

    async def insert() -> dict[str, Any]:
        return await tenant.create_version(agent["id"])

    async def delete(version: dict[str, Any]) -> None:
        response = await tenant.delete(f"{url}/{version['version']}")
        assert response.status_code == 204

    seen, inserted = await _walk(tenant, url, plan, insert, delete)

    # Rows are told apart by id: deleting the newest draft frees its number for the next insert.
    ids = [version["id"] for version in seen]
    assert len(ids) == len(set(ids)), "a row was repeated"
    numbers = [version["version"] for version in seen]
    assert numbers == sorted(set(numbers), reverse=True), "out of order"
    inserted_ids = {version["id"] for version in inserted}
    expected = [v["id"] for v in sorted(before, key=lambda v: v["version"], reverse=True)]
    assert [i for i in ids if i not in inserted_ids] == expected

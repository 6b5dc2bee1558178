"""Name search pages come out the same whichever plan finds them (issue 15): on PostgreSQL the
repository first walks a bounded number of agents newest-first, then asks the name grams index for
the rare matches; the walk is shrunk here so a few agents exercise both paths and the page
boundaries between them. On SQLite the same assertions run against the plain statement."""

from __future__ import annotations

import pytest

from callplane.agents import repository
from tests.factories import Tenant


async def _pages(tenant: Tenant, name: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        params = {"name": name, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = await tenant.get("/core/agents", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["name"] for item in body["data"]])
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("walk", [3, 1000])
async def test_name_search_pages_whichever_plan(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, walk: int
) -> None:
    monkeypatch.setattr(repository, "NAME_WALK", walk)
    # Oldest first: the rare word only among the oldest agents, the common one everywhere.
    names = [f"Rare Heron {i}" if i < 3 else f"Common Finch {i}" for i in range(12)]
    for name in names:
        await tenant.create_agent(name=name)
    newest_first = list(reversed(names))

    rare = await _pages(tenant, "heron", 2)
    assert rare == [["Rare Heron 2", "Rare Heron 1"], ["Rare Heron 0"]]
    common = await _pages(tenant, "FINCH", 4)
    assert [n for page in common for n in page] == [n for n in newest_first if "Finch" in n]
    assert [len(page) for page in common] == [4, 4, 1]
    every = await _pages(tenant, "N", 5)  # both words: a page straddles the two groups
    assert [n for page in every for n in page] == newest_first
    assert await _pages(tenant, "wren", 5) == [[]]

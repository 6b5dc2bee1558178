"""The quick list route answers exactly as FastAPI's handler does (issue 15, kit.quick).

`GET /core/agents` serves canonical queries without dependency solving (and on PostgreSQL from
one raw statement whose rows the database writes as JSON); everything else goes to FastAPI's
handler. Each query below is answered both ways — the second by making `kit.quick` hand every
request to FastAPI — and the pages, bodies and cursors must be the same, page after page, at
name-search selectivities from one agent to all of them, with the name walk shrunk and not.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from callplane.agents import repository
from callplane.kit import quick
from tests.factories import Tenant


async def _walk(
    tenant: Tenant, params: dict[str, str], url: str = "/core/agents"
) -> list[tuple[bytes, dict[str, Any]]]:
    """Every page of the query: each body as bytes and decoded (compared decoded: the
    database's JSON spaces its separators)."""
    pages: list[tuple[bytes, dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        response = await tenant.get(
            url, params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        pages.append((response.content, body))
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return pages


class QuickSpy:
    """Records whether each parse of a request gave it to the quick handler (True) or to
    FastAPI (a refused request is parsed twice: by the request middleware, then by the route);
    with `off`, hands every request to FastAPI."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.off = False


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> QuickSpy:
    spied = QuickSpy()
    parse = quick.parse_query

    def parse_query(request: Any, *args: Any) -> Any:
        values = None if spied.off else parse(request, *args)
        spied.calls.append(values is not None)
        return values

    monkeypatch.setattr(quick, "parse_query", parse_query)
    return spied


QUERIES = [
    {},
    {"limit": "3"},
    {"limit": "100"},
    {"active": "true", "limit": "2"},
    {"active": "false"},
    {"is_demo": "true", "active": "true", "limit": "1"},
    {"name": "solo", "limit": "2"},  # one agent
    {"name": "SPARSE", "limit": "2"},  # a tenth
    {"name": "half", "limit": "4"},  # half
    {"name": " ", "limit": "7"},  # all of them
    {"name": "nobody"},
    {"name": "100%_\\", "limit": "2"},  # LIKE wildcards and the escape character, literally
    {"name": "half", "active": "true", "is_demo": "false", "limit": "3"},
]


@pytest.mark.parametrize("walk", [2, 4000])
async def test_quick_pages_equal_fastapi_pages(
    tenant: Tenant, spy: QuickSpy, monkeypatch: pytest.MonkeyPatch, walk: int
) -> None:
    monkeypatch.setattr(repository, "NAME_WALK", walk)
    for i in range(20):
        words = ["Agent", str(i)]
        words += ["Half"] if i % 2 else []
        words += ["Sparse"] if i % 10 == 3 else []
        words += ["Solo"] if i == 4 else []
        words += ["100%_\\"] if i in (1, 2, 17) else []
        await tenant.create_agent(
            name=" ".join(words),
            description=None if i % 3 else f"about {i}",
            active=i % 4 != 0,
            is_demo=i % 5 == 0,
            metadata={"i": i, "nested": {"b": [1, 2.5, None, "x"], "a": True}, "é": "ü"},
        )
    newest_first = [
        item["name"] for _, page in await _walk(tenant, {"limit": "100"}) for item in page["data"]
    ]
    assert len(newest_first) == 20
    for params in QUERIES:
        spy.calls.clear()
        quick_pages = await _walk(tenant, params)
        assert spy.calls and all(spy.calls), params  # the quick handler answered
        spy.off = True
        standard_pages = await _walk(tenant, params)
        spy.off = False
        assert [body for _, body in quick_pages] == [body for _, body in standard_pages], params
        names = [item["name"] for _, body in quick_pages for item in body["data"]]
        if "name" in params:
            wanted = [n for n in newest_first if params["name"].lower() in n.lower()]
            if "active" not in params:
                assert names == wanted, params
        limit = int(params.get("limit", "20"))
        assert all(len(body["data"]) == limit for _, body in quick_pages[:-1]), params


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=020",
        "limit=",
        "limit=x",
        "active=yes",
        "active=1",
        "active=",
        "is_demo=maybe",
        "name=" + "x" * 201,
        "name=",
        "cursor=" + "c" * 513,
        "limit=2&limit=3",
        "unknown=1",
        'metadata={"i":1}',
        "created_after=2020-01-01T00:00:00Z",
    ],
)
async def test_other_queries_are_fastapis(tenant: Tenant, spy: QuickSpy, query: str) -> None:
    """Queries the quick parse does not take are answered by FastAPI, as before: 422s, 400s
    and filters alike (the same status and body with the quick route disabled)."""
    for i in range(3):
        await tenant.create_agent(name=f"Agent {i}", metadata={"i": i})
    spy.calls.clear()
    answered = await tenant.get(f"/core/agents?{query}")
    assert spy.calls and not any(spy.calls)
    spy.off = True
    standard = await tenant.get(f"/core/agents?{query}")
    assert (answered.status_code, answered.json()) == (standard.status_code, standard.json())


async def test_quick_route_refuses_like_fastapi(tenant: Tenant, spy: QuickSpy) -> None:
    """No credential: 401 from the quick handler; a malformed cursor in canonical form: 400."""
    response = await tenant.client.get("/core/agents?limit=5")
    assert response.status_code == 401
    response = await tenant.get("/core/agents?cursor=bm90LWEtY3Vyc29y")
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"
    assert spy.calls == [True, True]


async def test_quick_version_pages_equal_fastapi_pages(tenant: Tenant, spy: QuickSpy) -> None:
    """The versions list is a quick route too: same pages both ways; a path that is no
    hyphenated UUID and the time filters go to FastAPI; an unknown agent is 404 both ways."""
    agent = await tenant.create_agent(name="Versioned")
    for i in range(5):
        await tenant.create_version(agent["id"], config={"instructions": f"Help {i}."})
    published = await tenant.publish(agent["id"], 2)
    assert published.status_code == 200, published.text
    base = f"/core/agents/{agent['id']}/versions"
    for params in [{}, {"limit": "2"}, {"published": "true"}, {"version": "3"}, {"limit": "1"}]:
        spy.calls.clear()
        quick_pages = [body for _, body in await _walk(tenant, params, base)]
        assert spy.calls and all(spy.calls), params
        spy.off = True
        assert quick_pages == [body for _, body in await _walk(tenant, params, base)], params
        spy.off = False
    assert [v["version"] for v in quick_pages[0]["data"]] == [5]
    for url in [
        f"/core/agents/{agent['id'].replace('-', '')}/versions",
        f"{base}?created_after=2020-01-01T00:00:00Z",
        f"{base}?version=0",
        "/core/agents/not-a-uuid/versions",
        f"/core/agents/{uuid.uuid4()}/versions",
    ]:
        spy.calls.clear()
        answered = await tenant.get(url)
        spy.off = True
        standard = await tenant.get(url)
        spy.off = False
        assert (answered.status_code, answered.json()) == (standard.status_code, standard.json())
    assert answered.status_code == 404


async def test_quick_phone_number_pages_equal_fastapi_pages(tenant: Tenant, spy: QuickSpy) -> None:
    """The phone numbers list is a quick route too: same pages both ways, filters included."""
    agent = await tenant.create_agent(name="Numbered")
    await tenant.create_version(agent["id"])
    numbers = [await tenant.register_number() for _ in range(5)]
    published = await tenant.publish(agent["id"], 1, phone_numbers=numbers[:2])
    assert published.status_code == 200, published.text
    base = "/core/phone-numbers"
    for params in [
        {},
        {"limit": "2"},
        {"assigned": "true"},
        {"assigned": "false", "limit": "1"},
        {"agent_id": agent["id"]},
        {"phone_number": numbers[3][-6:]},
    ]:
        spy.calls.clear()
        quick_pages = [body for _, body in await _walk(tenant, params, base)]
        assert spy.calls and all(spy.calls), params
        spy.off = True
        assert quick_pages == [body for _, body in await _walk(tenant, params, base)], params
        spy.off = False
    assert [n["phone_number"] for page in quick_pages for n in page["data"]] == [numbers[3]]
    spy.calls.clear()
    response = await tenant.get(f"{base}?assigned=yes&limit=1")
    assert response.status_code == 200 and spy.calls and not any(spy.calls)


async def test_quick_conversation_pages_equal_fastapi_pages(tenant: Tenant, spy: QuickSpy) -> None:
    """The conversations list is a quick route too: same pages both ways, filters included;
    a value outside a filter's choices goes to FastAPI (422)."""
    agent = await tenant.create_agent(name="Talkative")
    other = await tenant.create_agent(name="Quiet")
    records = [
        {
            "agent_id": agent["id"] if i % 3 else other["id"],
            "channel": ["text", "telephone", "sms"][i % 3],
            "status": ["completed", "failed"][i % 2],
            "direction": ["inbound", "outbound"][i % 2],
            "transcript": [{"role": "user", "content": f"hello {i}"}],
        }
        for i in range(7)
    ]
    response = await tenant.post("/core/conversations/import", json={"conversations": records})
    assert response.status_code == 201, response.text
    base = "/core/conversations"
    for params in [
        {},
        {"limit": "2"},
        {"agent_id": other["id"]},
        {"channel": "telephone", "limit": "1"},
        {"status": "failed", "direction": "outbound"},
    ]:
        # Imported conversations are analysed in the background (their rows change): read
        # both ways until two reads meet; a quick page that differs would never meet.
        for _ in range(20):
            spy.calls.clear()
            quick_pages = [body for _, body in await _walk(tenant, params, base)]
            assert spy.calls and all(spy.calls), params
            spy.off = True
            standard_pages = [body for _, body in await _walk(tenant, params, base)]
            spy.off = False
            if quick_pages == standard_pages:
                break
            await asyncio.sleep(0.2)
        assert quick_pages == standard_pages, params
    assert len(quick_pages[0]["data"]) == 3
    spy.calls.clear()
    response = await tenant.get(f"{base}?channel=fax")
    assert response.status_code == 422 and spy.calls and not any(spy.calls)

"""Web widgets: CRUD bound to published versions, domain rules, the public read and its CORS."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.factories import Tenant

BASE = "/core/web-widgets"
PUBLIC = "/core/public/web-widgets"


class _AnyString:
    """Equal to any string: for timestamps a test cannot predict."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)


ANY_STRING: Any = _AnyString()


async def _create(tenant: Tenant, **body: Any) -> dict[str, Any]:
    """A widget on a freshly published agent (unless agent ids are given)."""
    if "agent_id" not in body:
        agent, version = await tenant.published_agent()
        body = {"agent_id": agent["id"], "agent_version_id": version["id"], **body}
    response = await tenant.post(BASE, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _ids(tenant: Tenant, **params: Any) -> list[str]:
    response = await tenant.get(BASE, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


async def test_create_returns_the_widget_with_defaults(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    response = await tenant.post(
        BASE, json={"agent_id": agent["id"], "agent_version_id": version["id"]}
    )
    assert response.status_code == 201, response.text
    widget = response.json()
    assert widget == {
        "id": widget["id"],
        "agent_id": agent["id"],
        "agent_version_id": version["id"],
        "domains": [],
        "published": False,
        "config": {},
        "created_at": widget["created_at"],
        "updated_at": widget["updated_at"],
    }
    uuid.UUID(widget["id"])
    assert widget["created_at"].endswith("Z")
    assert (await tenant.get(f"{BASE}/{widget['id']}")).json() == widget
    assert await _ids(tenant) == [widget["id"]]


async def test_create_requires_a_published_version_of_that_agent(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent, published = await tenant.published_agent()
    draft = await tenant.create_version(agent["id"])
    other_agent, other_published = await tenant.published_agent()
    foreign_agent, foreign_version = await other_tenant.published_agent()

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"agent_id": agent["id"], "agent_version_id": draft["id"]}, 422, "version_not_published"),
        (
            {"agent_id": agent["id"], "agent_version_id": other_published["id"]},
            422,
            "version_not_published",
        ),
        (
            {"agent_id": agent["id"], "agent_version_id": foreign_version["id"]},
            422,
            "version_not_published",
        ),
        (
            {"agent_id": agent["id"], "agent_version_id": str(uuid.uuid4())},
            422,
            "version_not_published",
        ),
        (
            {"agent_id": str(uuid.uuid4()), "agent_version_id": published["id"]},
            404,
            "agent_not_found",
        ),
        (
            {"agent_id": foreign_agent["id"], "agent_version_id": foreign_version["id"]},
            404,
            "agent_not_found",
        ),
    ]
    for body, status, code in cases:
        response = await tenant.post(BASE, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["code"] == code
    assert await _ids(tenant) == []
    assert await _ids(other_tenant) == []
    detail = (await tenant.get(f"/core/agents/{other_agent['id']}")).json()
    assert detail["widgets"] == []


async def test_domains_are_normalized(tenant: Tenant) -> None:
    widget = await _create(
        tenant,
        domains=[
            "HTTPS://Example.COM/",
            "example.com",
            " http://shop.example.com ",
            "*.Example.org",
            "localhost:3000",
            "xn--bcher-kva.example",
        ],
    )
    assert widget["domains"] == [
        "example.com",
        "shop.example.com",
        "*.example.org",
        "localhost:3000",
        "xn--bcher-kva.example",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"domains": ["https://example.com/path"]},
        {"domains": ["exa mple.com"]},
        {"domains": [""]},
        {"domains": ["*"]},
        {"domains": ["*."]},
        {"domains": ["*.*.example.com"]},
        {"domains": ["-bad.example.com"]},
        {"domains": ["a..example.com"]},
        {"domains": ["ftp://example.com"]},
        {"domains": ["user@example.com"]},
        {"domains": ["example.com?x=1"]},
        {"domains": ["example.com:port"]},
        {"domains": "example.com"},
        {"domains": [f"d{i}.example.com" for i in range(51)]},
        {"config": [1, 2]},
        {"config": {"blob": "x" * (16 * 1024)}},
        {"published": "soon"},
        {"colour": "red"},
    ],
)
async def test_create_rejects_invalid_input(tenant: Tenant, body: dict[str, Any]) -> None:
    agent, version = await tenant.published_agent()
    full = {"agent_id": agent["id"], "agent_version_id": version["id"], **body}
    response = await tenant.post(BASE, json=full)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await _ids(tenant) == []


async def test_create_requires_agent_and_version(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    for body in ({"agent_id": agent["id"]}, {"agent_version_id": version["id"]}):
        response = await tenant.post(BASE, json=body)
        assert response.status_code == 422, response.text
    assert await _ids(tenant) == []


async def test_patch_changes_only_given_fields(tenant: Tenant) -> None:
    agent, version_1 = await tenant.published_agent()
    widget = await _create(
        tenant,
        agent_id=agent["id"],
        agent_version_id=version_1["id"],
        domains=["a.example.com"],
        config={"theme": "dark", "position": "left"},
    )
    url = f"{BASE}/{widget['id']}"

    response = await tenant.patch(url, json={"published": True})
    assert response.status_code == 200, response.text
    assert response.json() == {**widget, "published": True, "updated_at": ANY_STRING}
    assert response.json()["updated_at"] >= widget["updated_at"]

    response = await tenant.patch(url, json={"domains": ["HTTPS://B.example.com", "c.test"]})
    assert response.status_code == 200
    assert response.json()["domains"] == ["b.example.com", "c.test"]
    assert response.json()["config"] == {"theme": "dark", "position": "left"}

    response = await tenant.patch(url, json={"config": {"theme": "light"}})
    assert response.json()["config"] == {"theme": "light"}  # replaced, not merged

    response = await tenant.patch(url, json={"domains": []})
    assert response.json()["domains"] == []

    version_2 = await tenant.create_version(agent["id"])
    assert (await tenant.publish(agent["id"], 2)).status_code == 200
    response = await tenant.patch(url, json={"agent_version_id": version_2["id"]})
    assert response.status_code == 200
    assert response.json()["agent_version_id"] == version_2["id"]

    final = (await tenant.get(url)).json()
    assert final["published"] is True and final["agent_id"] == agent["id"]
    assert final["created_at"] == widget["created_at"]


async def test_patch_rejects_bad_changes_and_changes_nothing(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent, _ = await tenant.published_agent()
    widget = await _create(tenant, domains=["example.com"], published=True)
    url = f"{BASE}/{widget['id']}"
    draft = await tenant.create_version(widget["agent_id"])
    _, other_agents_version = await tenant.published_agent()
    _, foreign_version = await other_tenant.published_agent()

    for body in (
        {"agent_version_id": draft["id"]},
        {"agent_version_id": other_agents_version["id"]},
        {"agent_version_id": foreign_version["id"]},
        {"agent_version_id": str(uuid.uuid4())},
    ):
        response = await tenant.patch(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["code"] == "version_not_published"
    for body in (
        {"agent_version_id": None},
        {"domains": None},
        {"published": None},
        {"config": None},
        {"agent_id": agent["id"]},
        {"domains": ["not a domain"]},
        {"config": "text"},
        {"id": str(uuid.uuid4())},
    ):
        response = await tenant.patch(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert isinstance(response.json()["detail"], list)
    assert (await tenant.get(url)).json() == widget


async def test_other_organization_sees_404(tenant: Tenant, other_tenant: Tenant) -> None:
    widget = await _create(tenant, published=True)
    url = f"{BASE}/{widget['id']}"
    for method, body in (("GET", None), ("PATCH", {"published": False}), ("DELETE", None)):
        response = await other_tenant.request(method, url, json=body)
        assert response.status_code == 404, method
        assert response.json() == {"detail": "Web widget not found.", "code": "widget_not_found"}
    assert await _ids(other_tenant) == []
    assert (await tenant.get(url)).json() == widget


async def test_delete(tenant: Tenant) -> None:
    widget = await _create(tenant, published=True)
    kept = await _create(tenant)
    url = f"{BASE}/{widget['id']}"
    response = await tenant.delete(url)
    assert response.status_code == 204 and response.content == b""
    assert (await tenant.get(url)).status_code == 404
    assert (await tenant.delete(url)).status_code == 404
    assert (await tenant.client.get(f"{PUBLIC}/{widget['id']}")).status_code == 404
    assert await _ids(tenant) == [kept["id"]]


async def test_list_filters_and_pagination(tenant: Tenant, other_tenant: Tenant) -> None:
    agent_a, version_a = await tenant.published_agent()
    agent_b, version_b = await tenant.published_agent()
    a1 = await _create(tenant, agent_id=agent_a["id"], agent_version_id=version_a["id"])
    a2 = await _create(
        tenant, agent_id=agent_a["id"], agent_version_id=version_a["id"], published=True
    )
    b1 = await _create(
        tenant, agent_id=agent_b["id"], agent_version_id=version_b["id"], published=True
    )
    await _create(other_tenant, published=True)

    assert await _ids(tenant) == [b1["id"], a2["id"], a1["id"]]
    assert await _ids(tenant, agent_id=agent_a["id"]) == [a2["id"], a1["id"]]
    assert await _ids(tenant, agent_id=agent_b["id"]) == [b1["id"]]
    assert await _ids(tenant, agent_id=str(uuid.uuid4())) == []
    assert await _ids(tenant, published="true") == [b1["id"], a2["id"]]
    assert await _ids(tenant, published="false") == [a1["id"]]
    assert await _ids(tenant, agent_id=agent_a["id"], published="false") == [a1["id"]]

    first = (await tenant.get(BASE, params={"limit": 2})).json()
    assert [w["id"] for w in first["data"]] == [b1["id"], a2["id"]]
    assert first["pagination"]["limit"] == 2
    cursor = first["pagination"]["next_cursor"]
    assert cursor
    second = (await tenant.get(BASE, params={"limit": 2, "cursor": cursor})).json()
    assert [w["id"] for w in second["data"]] == [a1["id"]]
    assert second["pagination"]["next_cursor"] is None

    for params in ({"limit": 0}, {"limit": 101}, {"published": "maybe"}, {"agent_id": "x"}):
        assert (await tenant.get(BASE, params=params)).status_code == 422, params
    response = await tenant.get(BASE, params={"cursor": "garbage"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


async def test_scopes(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    widget = await _create(tenant, agent_id=agent["id"], agent_version_id=version["id"])
    url = f"{BASE}/{widget['id']}"
    reader = await tenant.key_with("web_widgets:read")
    assert (await tenant.get(BASE, headers=reader)).status_code == 200
    assert (await tenant.get(url, headers=reader)).status_code == 200
    body = {"agent_id": agent["id"], "agent_version_id": version["id"]}
    for method, target, payload in (
        ("POST", BASE, body),
        ("PATCH", url, {"published": True}),
        ("DELETE", url, None),
    ):
        response = await tenant.request(method, target, json=payload, headers=reader)
        assert response.status_code == 403, method
        assert "web_widgets:manage" in response.json()["detail"]
    unrelated = await tenant.key_with("agents:manage")
    assert (await tenant.get(BASE, headers=unrelated)).status_code == 403
    assert (await tenant.client.get(BASE)).status_code == 401
    assert await _ids(tenant) == [widget["id"]]
    assert (await tenant.get(url)).json() == widget


# --- the public read ----------------------------------------------------------------------------


async def test_public_read_needs_no_credential_and_shows_no_org_data(tenant: Tenant) -> None:
    widget = await _create(tenant, published=True, domains=[], config={"title": "Ask us"})
    response = await tenant.client.get(f"{PUBLIC}/{widget['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": widget["id"],
        "agent_id": widget["agent_id"],
        "agent_version_id": widget["agent_version_id"],
        "config": {"title": "Ask us"},
    }
    assert str(tenant.organization_id) not in response.text


async def test_public_read_serves_only_published_widgets(tenant: Tenant) -> None:
    widget = await _create(tenant)
    url = f"{PUBLIC}/{widget['id']}"
    origin = {"Origin": "https://example.com"}
    response = await tenant.client.get(url, headers=origin)
    assert response.status_code == 404
    assert response.json() == {"detail": "Web widget not found.", "code": "widget_not_found"}
    assert "access-control-allow-origin" not in response.headers
    assert (await tenant.client.options(url, headers=origin)).status_code == 404

    await tenant.patch(f"{BASE}/{widget['id']}", json={"published": True})
    assert (await tenant.client.get(url)).status_code == 200
    await tenant.patch(f"{BASE}/{widget['id']}", json={"published": False})
    assert (await tenant.client.get(url)).status_code == 404

    assert (await tenant.client.get(f"{PUBLIC}/{uuid.uuid4()}")).status_code == 404
    assert (await tenant.client.get(f"{PUBLIC}/not-a-uuid")).status_code == 422


CORS_CASES = [
    (["example.com"], "https://example.com", True),
    (["example.com"], "http://example.com", True),
    (["example.com"], "https://EXAMPLE.com", True),
    (["example.com"], "https://evil.test", False),
    (["example.com"], "https://notexample.com", False),
    (["example.com"], "https://example.com.evil.test", False),
    (["example.com"], "https://shop.example.com", False),
    (["example.com"], "null", False),
    (["example.com"], "example.com", False),
    (["example.com"], "https://example.com:99999", False),
    (["example.com"], "http://[::1", False),
    (["*.example.com"], "https://shop.example.com", True),
    (["*.example.com"], "https://a.b.example.com", True),
    (["*.example.com"], "https://example.com", False),
    (["*.example.com"], "https://badexample.com", False),
    (["*.example.com"], "https://example.com.evil.test", False),
    (["localhost:3000"], "http://localhost:3000", True),
    (["localhost:3000"], "http://localhost:4000", False),
    (["localhost:3000"], "http://localhost", False),
    (["*.example.com:8443"], "https://shop.example.com:8443", True),
    (["*.example.com:8443"], "https://shop.example.com", False),
    (["*.example.com:8443"], "https://shop.example.com:9443", False),
    (["example.com", "*.shop.test"], "https://eu.shop.test", True),
    ([], "https://anything.test", True),
    ([], "http://localhost:1234", True),
]


@pytest.mark.parametrize(("domains", "origin", "allowed"), CORS_CASES)
async def test_cors_answers_only_allowed_origins(
    tenant: Tenant, domains: list[str], origin: str, allowed: bool
) -> None:
    widget = await _create(tenant, published=True, domains=domains)
    url = f"{PUBLIC}/{widget['id']}"

    response = await tenant.client.get(url, headers={"Origin": origin})
    assert response.status_code == 200, response.text
    assert response.headers.get("access-control-allow-origin") == (origin if allowed else None)
    assert "Origin" in response.headers["vary"]

    preflight = await tenant.client.options(
        url, headers={"Origin": origin, "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers.get("access-control-allow-origin") == (origin if allowed else None)
    if allowed:
        assert "GET" in preflight.headers["access-control-allow-methods"]
    else:
        assert "access-control-allow-methods" not in preflight.headers


async def test_no_origin_header_gets_no_cors_headers(tenant: Tenant) -> None:
    widget = await _create(tenant, published=True)
    response = await tenant.client.get(f"{PUBLIC}/{widget['id']}")
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# --- widgets and their agent --------------------------------------------------------------------


async def test_widgets_appear_in_agent_detail_and_go_with_the_agent(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    first = await _create(tenant, agent_id=agent["id"], agent_version_id=version["id"])
    second = await _create(
        tenant, agent_id=agent["id"], agent_version_id=version["id"], published=True
    )
    unrelated = await _create(tenant, published=True)

    detail = (await tenant.get(f"/core/agents/{agent['id']}")).json()
    assert sorted(detail["widgets"], key=lambda w: w["id"]) == sorted(
        [first, second], key=lambda w: w["id"]
    )

    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204
    for widget in (first, second):
        assert (await tenant.get(f"{BASE}/{widget['id']}")).status_code == 404
    assert (await tenant.client.get(f"{PUBLIC}/{second['id']}")).status_code == 404
    assert await _ids(tenant) == [unrelated["id"]]
    assert (await tenant.client.get(f"{PUBLIC}/{unrelated['id']}")).status_code == 200

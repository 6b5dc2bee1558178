"""Console sign-in and sessions over HTTP (no browser), on both databases: one-time links,
login CSRF, cookies, revocation through the credential or the role, the pages' scopes."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from callplane.config import Settings
from callplane.console import sessions
from callplane.console.web import LOGIN_CSRF_COOKIE
from callplane.db.types import utcnow
from callplane.models import ConsoleLoginLink, Membership
from tests.apps import another_app
from tests.factories import Tenant


@pytest.fixture
async def browserless(client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the suite's app with a cookie jar of its own."""
    transport = httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as own:
        yield own


async def link_for(tenant: Tenant, user_id: uuid.UUID | None = None) -> str:
    async with tenant.database.session(write=True) as session, session.begin():
        issued = await sessions.create_login_link(
            session, user_id or tenant.user_id, tenant.organization_id, minutes=5
        )
    return issued.token


async def sign_in(web: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await web.get("/console/login/link", params={"token": token})
    found = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    login_csrf = found.group(1) if found else ""
    return await web.post("/console/login/link", data={"token": token, "login_csrf": login_csrf})


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def test_a_login_link_signs_in_once(tenant: Tenant, browserless: httpx.AsyncClient) -> None:
    token = await link_for(tenant)
    shown = await browserless.get("/console/login/link", params={"token": token})
    assert tenant.user_email in shown.text
    signed = await sign_in(browserless, token)
    assert signed.status_code == 303
    assert signed.headers["location"] == "/console/agents"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # not in development/test: production below
    agents = await browserless.get("/console/agents")
    assert agents.status_code == 200
    assert tenant.user_email in agents.text

    again = await sign_in(browserless, token)
    assert again.status_code == 401
    assert "invalid, used or expired" in again.text


async def test_an_expired_link_and_a_forged_login_are_refused(
    tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    token = await link_for(tenant)
    async with tenant.database.session(write=True) as session, session.begin():
        await session.execute(
            update(ConsoleLoginLink)
            .where(ConsoleLoginLink.user_id == tenant.user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await sign_in(browserless, token)).status_code == 401

    fresh = await link_for(tenant)
    forged = await browserless.post(
        "/console/login/link", data={"token": fresh, "login_csrf": "made-up"}
    )
    assert forged.status_code == 403
    assert (await sign_in(browserless, fresh)).status_code == 303  # the link is still unused


async def test_an_api_key_session_ends_with_its_key(
    tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    headers = await tenant.key_with("agents:read")
    key = headers["Authorization"].removeprefix("Bearer ")
    page = await browserless.get("/console/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert login_csrf
    signed = await browserless.post(
        "/console/login/api-key", data={"api_key": key, "login_csrf": login_csrf.group(1)}
    )
    assert signed.status_code == 303
    agents = await browserless.get("/console/agents")
    assert agents.status_code == 200
    assert "New agent" not in agents.text  # agents:read only: no write buttons
    assert (await browserless.get("/console/audit")).status_code == 403

    key_id = key.split("_", 1)[1].split(".", 1)[0]
    revoked = await tenant.request("DELETE", f"/admin/organization-pats/{uuid.UUID(key_id)}")
    assert revoked.status_code == 204
    gone = await browserless.get("/console/agents")
    assert gone.status_code == 303
    assert gone.headers["location"].startswith("/console/login")


async def test_a_role_change_applies_to_an_open_session(
    tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    assert (await sign_in(browserless, await link_for(tenant))).status_code == 303
    form = await browserless.get("/console/agents/new")
    csrf = csrf_of(form)
    async with tenant.database.session(write=True) as session, session.begin():
        await session.execute(
            update(Membership).where(Membership.user_id == tenant.user_id).values(role="viewer")
        )
    refused = await browserless.post("/console/agents", data={"name": "x", "csrf_token": csrf})
    assert refused.status_code == 403
    assert "agents:manage" in refused.text
    listed = await tenant.get("/core/agents")
    assert listed.json()["data"] == []


async def test_every_page_renders_and_writes_need_the_csrf_token(
    tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    assert (await sign_in(browserless, await link_for(tenant))).status_code == 303
    for path in (
        "/console/agents",
        "/console/agents/new",
        "/console/numbers",
        "/console/workflows",
        "/console/build",
        "/console/conversations",
        "/console/audit",
        "/console/webhooks",
        "/console/api-keys",
    ):
        page = await browserless.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
    csrf = csrf_of(await browserless.get("/console/agents"))
    made = await browserless.post(
        "/console/agents", data={"name": "Console made", "csrf_token": csrf}
    )
    assert made.status_code == 303
    agent_id = made.headers["location"].rsplit("/", 1)[1]
    detail = await tenant.get(f"/core/agents/{agent_id}")
    assert detail.json()["name"] == "Console made"
    assert [v["version"] for v in detail.json()["versions"]] == [1]
    events = await tenant.get("/core/audit-events", params={"action": "agent.created"})
    created = [e for e in events.json()["data"] if e["resource_id"] == agent_id]
    assert created and created[0]["actor"]["type"] == "user"
    assert created[0]["actor"]["id"] == str(tenant.user_id)

    refused = await browserless.post("/console/agents", data={"name": "No token"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text


async def test_another_organizations_agent_is_404(
    tenant: Tenant, other_tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    theirs = await other_tenant.post("/core/agents", json={"name": "Theirs"})
    assert (await sign_in(browserless, await link_for(tenant))).status_code == 303
    for path in ("", "/versions/1", "/compare", "/playground"):
        page = await browserless.get(f"/console/agents/{theirs.json()['id']}{path}")
        assert page.status_code == 404, path
        assert "Theirs" not in page.text


async def test_production_cookies_are_secure(tenant: Tenant, settings: Settings) -> None:
    token = await link_for(tenant)
    async with another_app(settings, env="production") as web:
        page = await web.get("/console/login/link", params={"token": token})
        assert "Secure" in page.headers["set-cookie"]
        login_csrf = page.cookies[LOGIN_CSRF_COOKIE]  # a Secure cookie: http:// sends it not
        signed = await web.post(
            "/console/login/link",
            data={"token": token, "login_csrf": login_csrf},
            headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={login_csrf}"},
        )
        assert signed.status_code == 303
        assert "Secure" in signed.headers["set-cookie"]


async def test_the_assets_are_local_and_cacheable(browserless: httpx.AsyncClient) -> None:
    htmx = await browserless.get("/console/static/htmx-2.0.11.min.js")
    assert htmx.status_code == 200
    assert htmx.text.startswith("/*! htmx 2.0.11")
    assert "max-age" in htmx.headers["cache-control"]
    login = await browserless.get("/console/login")
    assert "https://" not in login.text.split("<main", 1)[0]  # no CDN in the page head

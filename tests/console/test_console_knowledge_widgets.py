"""The console's widget and knowledge pages over HTTP (no browser), on both databases: another
organization's resources are 404, writes need the CSRF token and the manage scope, uploads and
search go through the knowledge services, a collection in use is refused with 409."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from callplane.models import Membership
from tests.console.test_sessions import browserless, csrf_of, link_for, sign_in
from tests.factories import Tenant

__all__ = ["browserless"]  # the fixture, used by name


async def signed(tenant: Tenant, web: httpx.AsyncClient) -> str:
    assert (await sign_in(web, await link_for(tenant))).status_code == 303
    return csrf_of(await web.get("/console/knowledge"))


async def test_widgets_from_the_console(
    tenant: Tenant, other_tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    csrf = await signed(tenant, browserless)
    agent, version = await tenant.published_agent()
    page = f"/console/agents/{agent['id']}/widgets"
    refused = await browserless.post(page, data={"agent_version_id": version["id"]})
    assert refused.status_code == 403
    bad = await browserless.post(
        page, data={"agent_version_id": version["id"], "domains": "a b!", "csrf_token": csrf}
    )
    assert bad.status_code == 422 and "is not a domain" in bad.text
    made = await browserless.post(
        page,
        data={
            "agent_version_id": version["id"],
            "domains": "shop.example.com\nhttps://Example.com/",
            "published": "on",
            "csrf_token": csrf,
        },
    )
    assert made.status_code == 303
    [widget] = (await tenant.get("/core/web-widgets")).json()["data"]
    assert widget["domains"] == ["shop.example.com", "example.com"]
    assert widget["published"] is True
    shown = await browserless.get(page)
    assert f"data-widget-id=&#34;{widget['id']}&#34;" in shown.text  # the embed tag, escaped

    edited = await browserless.post(
        f"{page}/{widget['id']}", data={"domains": "example.org", "csrf_token": csrf}
    )
    assert edited.status_code == 303
    after = (await tenant.get(f"/core/web-widgets/{widget['id']}")).json()
    assert after["domains"] == ["example.org"] and after["published"] is False

    # Another organization's agent or widget: 404, nothing changed.
    theirs, their_version = await other_tenant.published_agent()
    their_widget = await other_tenant.create_widget(theirs["id"], their_version["id"])
    assert (await browserless.get(f"/console/agents/{theirs['id']}/widgets")).status_code == 404
    for path in (f"{page}/{their_widget['id']}", f"{page}/{their_widget['id']}/delete"):
        answer = await browserless.post(path, data={"domains": "x.com", "csrf_token": csrf})
        assert answer.status_code == 404
    # Another agent's version is not this agent's.
    mine_elsewhere = await browserless.post(
        page, data={"agent_version_id": their_version["id"], "csrf_token": csrf}
    )
    assert mine_elsewhere.status_code == 422
    assert len((await other_tenant.get("/core/web-widgets")).json()["data"]) == 1

    deleted = await browserless.post(f"{page}/{widget['id']}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert (await tenant.get("/core/web-widgets")).json()["data"] == []


async def test_knowledge_from_the_console(
    tenant: Tenant, other_tenant: Tenant, browserless: httpx.AsyncClient
) -> None:
    csrf = await signed(tenant, browserless)
    made = await browserless.post("/console/knowledge", data={"name": "Clinic", "csrf_token": csrf})
    assert made.status_code == 303
    page = made.headers["location"]
    collection_id = page.rsplit("/", 1)[1]
    events = await tenant.get(
        "/core/audit-events", params={"action": "knowledge_collection.created"}
    )
    [created] = [e for e in events.json()["data"] if e["resource_id"] == collection_id]
    assert created["actor"] == {**created["actor"], "type": "user", "id": str(tenant.user_id)}

    text = await browserless.post(
        f"{page}/documents",
        data={"title": "Hours", "content": "Open on Saturdays.", "csrf_token": csrf},
    )
    assert text.status_code == 303 and text.headers["location"].endswith("?added=1")
    again = await browserless.post(
        f"{page}/documents", data={"content": "Open on Saturdays.", "csrf_token": csrf}
    )
    assert again.headers["location"].endswith("?duplicate=1")
    uploaded = await browserless.post(
        f"{page}/upload",
        data={"csrf_token": csrf, "title": "Prices"},
        files={"file": ("prices.md", b"# Prices\n\nA cleaning costs 80 euros.", "text/markdown")},
    )
    assert uploaded.status_code == 303, uploaded.text
    wrong = await browserless.post(
        f"{page}/upload",
        data={"csrf_token": csrf},
        files={"file": ("tool.exe", b"MZ\x90\x00", "application/octet-stream")},
    )
    assert wrong.status_code == 415
    no_token = await browserless.post(
        f"{page}/upload", files={"file": ("a.txt", b"forged", "text/plain")}
    )
    assert no_token.status_code == 403
    documents = (await tenant.get(f"/core/knowledge-collections/{collection_id}/documents")).json()
    assert sorted(d["title"] for d in documents["data"]) == ["Hours", "Prices"]

    found = await browserless.get(page, params={"q": "cleaning costs", "mode": "keyword"})
    assert found.status_code == 200
    assert "A cleaning costs 80 euros." in found.text.split('class="results"')[1]
    semantic = await browserless.get(page, params={"q": "cleaning", "mode": "semantic"})
    assert 'id="s-error"' in semantic.text  # no embeddings configured: said at the search box

    # In use by a published version: 409 with the service's message, nothing deleted.
    agent = await tenant.create_agent()
    await tenant.create_version(
        agent["id"],
        config={"instructions": "x", "knowledge_bases": [{"collection_id": collection_id}]},
    )
    assert (await tenant.publish(agent["id"], 1)).status_code == 200
    in_use = await browserless.post(f"{page}/delete", data={"csrf_token": csrf})
    assert in_use.status_code == 409
    assert f"agent {agent['id']} version 1" in in_use.text
    assert (await tenant.get(f"/core/knowledge-collections/{collection_id}")).status_code == 200

    # Another organization's collection: 404 to read, search, write.
    theirs = await other_tenant.post("/core/knowledge-collections", json={"name": "Theirs"})
    other = f"/console/knowledge/{theirs.json()['id']}"
    assert (await browserless.get(other, params={"q": "x"})).status_code == 404
    for path in ("/documents", "/delete", "/refresh"):
        answer = await browserless.post(other + path, data={"content": "x", "csrf_token": csrf})
        assert answer.status_code == 404

    # A viewer reads and searches, and is refused every write.
    async with tenant.database.session(write=True) as session, session.begin():
        await session.execute(
            update(Membership).where(Membership.user_id == tenant.user_id).values(role="viewer")
        )
    assert (await browserless.get(page, params={"q": "Saturdays"})).status_code == 200
    for path in ("/documents", "/delete", "/refresh", "/url"):
        answer = await browserless.post(
            page + path, data={"content": "x", "url": "https://e.com", "csrf_token": csrf}
        )
        assert answer.status_code == 403 and "knowledge_bases:manage" in answer.text
    forged = await browserless.post(
        f"{page}/upload",
        data={"csrf_token": csrf},
        files={"file": ("a.txt", b"forged", "text/plain")},
    )
    assert forged.status_code == 403
    documents = (await tenant.get(f"/core/knowledge-collections/{collection_id}/documents")).json()
    assert len(documents["data"]) == 2

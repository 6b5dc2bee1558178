"""Web pages into a collection (a page, a crawled site) and refresh, against local sites."""

from __future__ import annotations

from collections.abc import Callable

from tests.factories import Tenant
from tests.knowledge.test_documents import new_collection, top_hit
from tests.support.site import LocalSite, Reply, Route, html
from tests.workflows.helpers import wait_for_workflow

Serve = Callable[[dict[str, Route]], LocalSite]

ROBOTS = Reply(body="User-agent: *\nAllow: /\n", content_type="text/plain")
FILLER = " We are a small family business and we answer every message within a day."


def site_pages() -> dict[str, Route]:
    return {
        "/robots.txt": ROBOTS,
        "/": html(
            "<h1>Bakery</h1><p>Fresh sourdough every morning." + FILLER + "</p>"
            '<a href="/cakes">Cakes</a> <a href="/delivery">Delivery</a>',
            head="<title>Bakery</title>",
        ),
        "/cakes": html(
            "<h1>Cakes</h1><p>Birthday cakes need two days notice." + FILLER + "</p>",
            head="<title>Cakes</title>",
        ),
        "/delivery": html(
            "<h1>Delivery</h1><p>We deliver by bicycle within the city." + FILLER + "</p>",
            head="<title>Delivery</title>",
        ),
    }


async def crawl(tenant: Tenant, collection_id: str, **body: object) -> dict:
    response = await tenant.post(f"/core/knowledge-collections/{collection_id}/crawl", json=body)
    assert response.status_code == 202, response.text
    run = await wait_for_workflow(tenant, response.json()["workflow_id"])
    assert run["status"] == "succeeded", run
    return dict(run)


async def urls(tenant: Tenant, collection_id: str) -> list[str]:
    page = await tenant.get(f"/core/knowledge-collections/{collection_id}/documents?limit=100")
    return sorted(d["url"] for d in page.json()["data"])


async def test_one_page_then_the_whole_site(tenant: Tenant, serve: Serve) -> None:
    site = serve(site_pages())
    collection_id = await new_collection(tenant)
    run = await crawl(tenant, collection_id, url=f"{site.url}/cakes", max_pages=1)
    assert run["result"]["stored"] == 1
    assert await urls(tenant, collection_id) == [f"{site.url}/cakes"]
    assert (await top_hit(tenant, collection_id, "birthday"))["url"] == f"{site.url}/cakes"

    run = await crawl(tenant, collection_id, url=site.url)
    assert run["progress"]["completed_steps"] == run["progress"]["total_steps"] == 2
    assert await urls(tenant, collection_id) == [
        f"{site.url}/",
        f"{site.url}/cakes",
        f"{site.url}/delivery",
    ]
    assert (await top_hit(tenant, collection_id, "bicycle"))["url"] == f"{site.url}/delivery"


async def test_refresh_replaces_changed_pages_only(tenant: Tenant, serve: Serve) -> None:
    site = serve(site_pages())
    collection_id = await new_collection(tenant)
    await crawl(tenant, collection_id, url=site.url)
    before = {
        d["url"]: d
        for d in (
            await tenant.get(f"/core/knowledge-collections/{collection_id}/documents?limit=100")
        ).json()["data"]
    }
    site.routes["/delivery"] = html(
        "<h1>Delivery</h1><p>We now deliver by cargo tricycle, also on Sundays." + FILLER + "</p>",
        head="<title>Delivery</title>",
    )
    site.routes["/cakes"] = Reply(status=500, body="down")
    response = await tenant.post(f"/core/knowledge-collections/{collection_id}/refresh")
    assert response.status_code == 202, response.text
    run = await wait_for_workflow(tenant, response.json()["workflow_id"])
    assert run["status"] == "succeeded", run
    assert run["result"]["changed"] == [f"{site.url}/delivery"]
    assert run["result"]["unchanged"] == [f"{site.url}/"]
    assert run["result"]["failed"] == [f"{site.url}/cakes"]
    after = {
        d["url"]: d
        for d in (
            await tenant.get(f"/core/knowledge-collections/{collection_id}/documents?limit=100")
        ).json()["data"]
    }
    assert after[f"{site.url}/"]["updated_at"] == before[f"{site.url}/"]["updated_at"]
    assert after[f"{site.url}/cakes"]["content_hash"] == before[f"{site.url}/cakes"]["content_hash"]
    assert (
        after[f"{site.url}/delivery"]["content_hash"]
        != before[f"{site.url}/delivery"]["content_hash"]
    )
    assert (await top_hit(tenant, collection_id, "tricycle"))["url"] == f"{site.url}/delivery"
    gone = await tenant.post(
        f"/core/knowledge-collections/{collection_id}/search", json={"query": "bicycle"}
    )
    assert gone.json()["results"] == []
    collection = (await tenant.get(f"/core/knowledge-collections/{collection_id}")).json()
    assert collection["last_refreshed_at"] is not None


async def test_refused_urls_and_other_organizations(
    tenant: Tenant, other_tenant: Tenant, serve: Serve
) -> None:
    site = serve(site_pages())
    collection_id = await new_collection(tenant)
    path = f"/core/knowledge-collections/{collection_id}"
    for url in ("ftp://example.com/", "not a url", "http://"):
        response = await tenant.post(f"{path}/crawl", json={"url": url})
        assert response.status_code == 422, (url, response.text)
    assert (
        await tenant.post(f"{path}/crawl", json={"url": site.url, "max_pages": 0})
    ).status_code == 422
    assert (await other_tenant.post(f"{path}/crawl", json={"url": site.url})).status_code == 404
    assert (await other_tenant.post(f"{path}/refresh")).status_code == 404
    assert await urls(tenant, collection_id) == []

"""The console's knowledge pages in a real browser: collections, documents, crawls, search."""

from __future__ import annotations

import re
import uuid
from typing import Any

from callplane.agents.schemas import AgentCreate
from callplane.agents.service import AgentService
from callplane.publishing.schemas import PublishRequest
from callplane.publishing.service import PublishingService
from callplane.versions.schemas import VersionUpdate
from callplane.versions.service import VersionService
from tests.console.conftest import Org, World, screenshot, sign_in
from tests.support.site import html


def publish_agent_using(world: World, org: Org, collection_id: str) -> uuid.UUID:
    async def work(session: Any) -> uuid.UUID:
        agent = await AgentService(session, org.id).create(AgentCreate(name="Knows the hours"))
        versions = VersionService(session, org.id)
        draft = await versions.latest(agent.id)
        config = {**draft.config, "knowledge_bases": [{"collection_id": collection_id}]}
        await versions.update(agent.id, 1, VersionUpdate.model_validate({"config": config}), None)
        await PublishingService(session, org.id).publish(agent.id, 1, PublishRequest())
        return agent.id

    result: uuid.UUID = world.run(work)
    return result


def test_a_collection_made_in_the_console_is_filled_and_searched(
    world: World, page: Any, org: Org, serve: Any
) -> None:
    site = serve({"/faq": html("<h1>Parking</h1><p>Free parking behind the clinic.</p>")})
    sign_in(world, page, org)
    page.get_by_role("link", name="Knowledge").click()
    assert "No knowledge collections yet" in page.inner_text("main")
    page.get_by_label("Name", exact=True).fill("Clinic facts")
    page.get_by_label("Refresh every (hours)").fill("0")
    page.get_by_role("button", name="Create collection").click()
    assert "greater than or equal to 1" in page.inner_text("#c-refresh-error")
    page.get_by_label("Refresh every (hours)").fill("")
    page.get_by_role("button", name="Create collection").click()
    page.wait_for_url(re.compile(r".*/console/knowledge/[0-9a-f-]{36}$"))
    collection_id = page.url.rsplit("/", 1)[1]

    # Text, then a file.
    page.get_by_label("Title").first.fill("Opening hours")
    page.get_by_label("Text", exact=True).fill("We are open on Saturdays from 9 to 12.")
    page.get_by_role("button", name="Add document").click()
    assert "Document added" in page.inner_text("main")
    page.get_by_label("File").set_input_files(
        files=[{"name": "prices.md", "mimeType": "text/markdown",
                "buffer": b"# Prices\n\nA cleaning costs 80 euros."}]
    )  # fmt: skip
    page.get_by_role("button", name="Upload").click()
    assert "Document added" in page.inner_text("main")
    page.get_by_label("File").set_input_files(
        files=[{"name": "x.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x00"}]
    )
    page.get_by_role("button", name="Upload").click()
    assert page.locator("#u-error").inner_text().strip()  # refused, said at the upload form

    # A web page, fetched by a workflow followed live, then back to the collection.
    page.get_by_label("Page URL").fill(site.url + "/faq")
    page.get_by_role("button", name="Fetch the page").click()
    page.wait_for_url("**/console/workflows/*")
    page.wait_for_function(
        "document.querySelector('#run-status').textContent === 'succeeded'", timeout=60_000
    )
    page.get_by_role("link", name="Back to the collection").click()
    documents = page.inner_text("#documents")
    for title in ("Opening hours", "Prices", site.url + "/faq"):
        assert title in documents
    assert page.locator("#documents tbody tr").count() == 3

    # Search: ranked passages with their document.
    page.get_by_label("Search the collection").fill("When are you open on Saturday?")
    page.get_by_label("Mode").select_option("keyword")
    page.get_by_role("button", name="Search", exact=True).click()
    first = page.locator(".results .result").first
    assert "Opening hours" in first.inner_text()
    assert "Saturdays" in first.locator(".passage").inner_text()
    page.get_by_label("Search the collection").fill("parking")
    page.get_by_role("button", name="Search", exact=True).click()
    assert "Free parking" in page.locator(".results .result").first.inner_text()
    page.get_by_label("Mode").select_option("semantic")  # no embeddings on this server
    page.get_by_role("button", name="Search", exact=True).click()
    assert page.locator("#s-error").inner_text().strip()
    page.get_by_label("Mode").select_option("keyword")
    page.get_by_label("Search the collection").fill("cleaning price")
    page.get_by_role("button", name="Search", exact=True).click()
    screenshot(page, "knowledge")

    # Refresh starts its workflow.
    page.get_by_role("button", name="Refresh web pages").click()
    page.wait_for_url(f"**/console/workflows/*?collection={collection_id}")

    # A document deleted; the collection refused while a published version uses it.
    page.goto(f"{world.url}/console/knowledge/{collection_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete Prices").click()
    assert "Document deleted" in page.inner_text("main")
    assert page.locator("#documents tbody tr").count() == 2
    agent_id = publish_agent_using(world, org, collection_id)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete collection").click()
    refused = page.inner_text("#delete-error")
    assert f"agent {agent_id} version 1" in refused
    page.goto(f"{world.url}/console/knowledge")
    assert "Clinic facts" in page.inner_text("table.list")


def test_a_viewer_searches_but_sees_no_write_buttons(
    world: World, page: Any, browser: Any, org: Org
) -> None:
    sign_in(world, page, org)
    page.goto(f"{world.url}/console/knowledge")
    page.get_by_label("Name", exact=True).fill("Read only")
    page.get_by_role("button", name="Create collection").click()
    collection = page.url
    page.get_by_label("Text", exact=True).fill("Dogs are welcome in the waiting room.")
    page.get_by_role("button", name="Add document").click()

    viewer = browser.new_page()
    sign_in(world, viewer, org, world.member(org, "viewer"))
    viewer.get_by_role("link", name="Knowledge").click()
    assert viewer.get_by_role("button", name="Create collection").count() == 0
    viewer.goto(collection + "?q=dogs")
    assert "Dogs are welcome" in viewer.locator(".results").inner_text()
    for name in ("Add document", "Upload", "Fetch the page", "Start the crawl",
                 "Refresh web pages", "Delete collection"):  # fmt: skip
        assert viewer.get_by_role("button", name=name).count() == 0
    assert viewer.locator("#documents button").count() == 0
    csrf = viewer.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = viewer.request.post(collection + "/delete", form={"csrf_token": csrf})
    assert forged.status == 403
    assert "knowledge_bases:manage" in forged.text()
    forged_upload = viewer.request.post(
        collection + "/upload",
        multipart={"csrf_token": csrf, "file": {"name": "a.txt", "mimeType": "text/plain",
                                                "buffer": b"sneaky"}},
    )  # fmt: skip
    assert forged_upload.status == 403
    no_token = page.request.post(collection + "/delete")
    assert no_token.status == 403 and "CSRF" in no_token.text()
    viewer.close()
    page.reload()
    assert page.locator("#documents tbody tr").count() == 1

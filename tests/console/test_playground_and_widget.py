"""The playground and the embeddable widget, in a real browser against a real server."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from callplane.models import AgentVersion
from callplane.widgets.schemas import WidgetCreate
from callplane.widgets.service import WidgetService
from tests.console.conftest import Org, World, screenshot, sign_in
from tests.console.test_console import make_agent
from tests.support.site import html


def test_talk_to_the_live_version_in_the_playground(world: World, page: Any, org: Org) -> None:
    agent_id = make_agent(
        world,
        org,
        "Talkative",
        instructions="Answer questions about opening hours.",
        published=True,
    )
    sign_in(world, page, org)
    page.goto(f"{world.url}/console/agents/{agent_id}")
    page.get_by_role("link", name="Playground").click()
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill("When are you open?")
    page.get_by_role("button", name="Send").click()
    reply = page.locator("#pg-chat .msg.agent[data-done='true']").last
    reply.wait_for(timeout=45_000)  # the server's first turn may import its engine
    assert reply.locator(".content").inner_text().strip()
    assert "in progress" in page.inner_text("#pg-status")
    screenshot(page, "playground")

    page.goto(f"{world.url}/console/conversations?agent_id={agent_id}")
    page.locator("table.list a").first.click()
    assert "When are you open?" in page.inner_text(".transcript")


def test_the_playground_talks_to_a_draft_and_refuses_an_unpublished_live(
    world: World, page: Any, org: Org
) -> None:
    agent_id = make_agent(world, org, "Draft only", instructions="Say hello.")
    sign_in(world, page, org)
    page.goto(f"{world.url}/console/agents/{agent_id}/playground")
    assert page.locator("#pg-version").input_value() == "1"  # nothing live: the draft is offered
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()
    page.locator("#pg-chat .msg.agent[data-done='true']").wait_for()

    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    live = page.request.post(
        f"{world.url}/console/agents/{agent_id}/playground/conversations",
        form={"version": "live", "csrf_token": csrf},
    )
    assert live.status == 409


def published_widget(world: World, org: Org, agent_id: uuid.UUID, domains: list[str]) -> str:
    async def work(session: Any) -> str:
        version = (
            await session.execute(
                AgentVersion.__table__.select().where(
                    AgentVersion.agent_id == agent_id, AgentVersion.version == 1
                )
            )
        ).one()
        widget = await WidgetService(session, org.id).create(
            WidgetCreate(
                agent_id=agent_id, agent_version_id=version.id, domains=domains, published=True
            )
        )
        return str(widget.id)

    result: str = world.run(work)
    return result


def embedding(world: World, widget_id: str) -> Any:
    return html(
        "<h1>Acme Dental</h1><p>Questions? Use the chat.</p>"
        f'<script src="{world.url}/widget.js" data-widget-id="{widget_id}" async></script>'
    )


def test_the_widget_answers_on_an_allowed_origin_and_survives_a_reload(
    world: World, page: Any, org: Org, serve: Any
) -> None:
    agent_id = make_agent(world, org, "Site helper", instructions="Help visitors.", published=True)
    site = serve({})
    widget_id = published_widget(world, org, agent_id, [site.url.split("//")[1]])
    site.routes["/"] = embedding(world, widget_id)

    page.goto(site.url + "/")
    page.get_by_role("button", name="Open the chat").click()
    page.get_by_label("Message").fill("Do you take new patients?")
    page.get_by_role("button", name="Send").click()
    reply = page.locator("[data-callplane-widget] .msg.agent[data-done='true']")
    reply.wait_for()
    answer = reply.inner_text().strip()
    assert answer
    screenshot(page, "widget")

    page.reload()
    restored = page.locator("[data-callplane-widget] .msg.user")
    restored.wait_for()
    assert restored.inner_text() == "Do you take new patients?"
    assert page.locator("[data-callplane-widget] .msg.agent").last.inner_text().strip() == answer

    # Recorded on channel text, with the widget's id.
    sign_in(world, page, org)
    page.goto(f"{world.url}/console/conversations?agent_id={agent_id}&channel=text")
    assert page.locator("table.list tbody tr").count() == 1


def test_the_widget_refuses_another_origin(world: World, page: Any, org: Org, serve: Any) -> None:
    agent_id = make_agent(world, org, "Picky helper", instructions="Help.", published=True)
    allowed = serve({"/": html("<p>allowed</p>")})
    elsewhere = serve({})
    widget_id = published_widget(world, org, agent_id, [allowed.url.split("//")[1]])
    elsewhere.routes["/"] = embedding(world, widget_id)

    page.goto(elsewhere.url + "/")
    page.get_by_role("button", name="Open the chat").click()
    page.get_by_label("Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()
    error = page.locator("[data-callplane-widget] .error")
    error.wait_for()
    assert "not allowed" in error.inner_text()
    assert page.locator("[data-callplane-widget] .msg.user").count() == 0

    # Without a browser: no Origin, or a foreign one, is 403 and starts nothing.
    start = f"{world.url}/core/public/web-widgets/{widget_id}/conversations"
    assert httpx.post(start).status_code == 403
    refused = httpx.post(start, headers={"Origin": elsewhere.url})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    admitted = httpx.post(start, headers={"Origin": allowed.url})
    assert admitted.status_code == 201
    assert admitted.headers["access-control-allow-origin"] == allowed.url


def test_a_widget_made_in_the_console_answers_on_its_site(
    world: World, page: Any, browser: Any, org: Org, serve: Any
) -> None:
    agent_id = make_agent(world, org, "Console widget", instructions="Help.", published=True)
    site = serve({})
    host = site.url.split("//")[1]
    sign_in(world, page, org)
    page.goto(f"{world.url}/console/agents/{agent_id}")
    page.get_by_role("link", name="Manage widgets").click()
    page.get_by_label("Allowed domains").fill("not a domain!")
    page.get_by_role("button", name="Create widget").click()
    assert "is not a domain" in page.inner_text(".field-error")  # at its field, nothing made
    assert page.locator("section.widget").count() == 0
    page.get_by_label("Allowed domains").fill(host)
    page.get_by_role("button", name="Create widget").click()
    card = page.locator("section.widget")
    assert card.count() == 1
    widget_id = card.get_attribute("data-widget-id")
    tag = card.locator("input.embed").input_value()
    assert tag == (
        f'<script src="{world.url}/widget.js" data-widget-id="{widget_id}" async></script>'
    )
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    card.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == tag
    screenshot(page, "widgets")

    # The tag, pasted into a page of the allowed site, answers.
    site.routes["/"] = html(f"<h1>Acme Dental</h1>{tag}")
    visitor = browser.new_page()
    visitor.goto(site.url + "/")
    visitor.get_by_role("button", name="Open the chat").click()
    visitor.get_by_label("Message").fill("Do you take new patients?")
    visitor.get_by_role("button", name="Send").click()
    reply = visitor.locator("[data-callplane-widget] .msg.agent[data-done='true']")
    reply.wait_for(timeout=45_000)
    assert reply.inner_text().strip()

    # Domains edited: the site is no longer allowed.
    card.get_by_label("Allowed domains").fill("example.com\nshop.example.com")
    card.get_by_role("button", name="Save widget").click()
    assert "example.com, shop.example.com" in page.inner_text("section.widget")
    start = f"{world.url}/core/public/web-widgets/{widget_id}/conversations"
    assert httpx.post(start, headers={"Origin": site.url}).status_code == 403
    visitor.close()

    # A viewer sees the tag but no write button, and a forged write is refused.
    viewer = browser.new_page()
    sign_in(world, viewer, org, world.member(org, "viewer"))
    viewer.goto(f"{world.url}/console/agents/{agent_id}/widgets")
    assert viewer.locator("input.embed").input_value() == tag
    for name in ("Create widget", "Save widget", "Delete widget"):
        assert viewer.get_by_role("button", name=name).count() == 0
    csrf = viewer.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = viewer.request.post(
        f"{world.url}/console/agents/{agent_id}/widgets/{widget_id}/delete",
        form={"csrf_token": csrf},
    )
    assert forged.status == 403
    assert "web_widgets:manage" in forged.text()
    viewer.close()

    # Without the CSRF token even the admin is refused; with it the widget is deleted.
    stale = page.request.post(f"{world.url}/console/agents/{agent_id}/widgets/{widget_id}/delete")
    assert stale.status == 403
    assert page.locator("section.widget").count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete widget").click()
    page.wait_for_url("**/widgets?deleted=1")
    assert page.locator("section.widget").count() == 0
    assert "No web widget yet" in page.inner_text("main")

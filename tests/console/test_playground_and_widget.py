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

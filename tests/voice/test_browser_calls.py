"""The browser as a third carrier (the console's "Call" page, docs/voice.md): a console-issued
token opens `WS /voice/browser/stream`, the same call session runs, the page gets the turns, and
the call is a `webrtc` conversation. The page itself is driven in chromium by
tests/console/test_browser_call.py; here a fake client speaks its messages, on both databases."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import select

from callplane.agents.errors import AgentNotFound
from callplane.audit.recorder import Actor
from callplane.conversations.errors import AgentNotLive
from callplane.models import AuditEvent, Conversation
from callplane.versions.errors import VersionNotFound
from callplane.voice.browser import BrowserCall, browser_call
from tests.console.test_sessions import csrf_of, link_for, sign_in
from tests.factories import Tenant, TenantFactory
from tests.support.carrier import ACCOUNT_SID, FakeCall, speechlike
from tests.support.speech_stub import SpeechStub
from tests.voice.conftest import VoiceServer, configure_twilio, stream_token

GREETING = "Hello, you called Acme Dental."
USER = Actor("user", str(uuid.uuid4()), uuid.uuid4())  # who the console would name


async def _token(
    server: VoiceServer, tenant: Tenant, agent_id: str, choice: str, by: Actor = USER
) -> BrowserCall:
    async with tenant.database.session(write=False) as session:
        return await browser_call(
            session, server.app.state.voice, tenant.organization_id, uuid.UUID(agent_id), choice, by
        )


async def _draft(tenant: Tenant, config: dict[str, object]) -> str:
    agent = await tenant.create_agent()
    await tenant.create_version(agent["id"], config=config)
    return str(agent["id"])


async def _ended(tenant: Tenant, agent_id: str) -> Conversation:
    for _ in range(500):
        async with tenant.database.session(write=False) as session:
            rows = list(
                (
                    await session.scalars(
                        select(Conversation).where(Conversation.agent_id == uuid.UUID(agent_id))
                    )
                ).all()
            )
        if len(rows) == 1 and rows[0].status != "in_progress":
            return rows[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"conversation not ended: {[row.status for row in rows]}")


async def _started_event(tenant: Tenant, conversation_id: uuid.UUID) -> AuditEvent:
    async with tenant.database.session(write=False) as session:
        return (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "conversation.started",
                    AuditEvent.resource_id == str(conversation_id),
                )
            )
        ).one()


def _url(server: VoiceServer) -> str:
    return server.url.replace("http://", "ws://") + "/voice/browser/stream"


async def test_a_browser_call_is_a_webrtc_conversation_of_the_chosen_draft(
    stub_voice: VoiceServer, speech_stub: SpeechStub, tenant: Tenant
) -> None:
    agent_id = await _draft(tenant, {"instructions": "Help.", "starting_message": GREETING})
    call = await _token(stub_voice, tenant, agent_id, "1")  # a draft: nothing is live
    assert call.version == 1 and call.call_id.startswith("web-")
    speech_stub.script("Do you take new patients?")
    page = FakeCall(_url(stub_voice), call_id=call.call_id, speed=4)
    await page.connect(call.token)
    await page.wait_for(lambda: len(page.events("mark")) >= 1)
    await page.say(speechlike(600))
    await page.wait_for(lambda: len(page.events("transcript")) >= 3)
    said = [(m["role"], m["text"]) for m in page.events("transcript")]
    assert said[:2] == [("agent", GREETING), ("user", "Do you take new patients?")]
    assert said[2][0] == "agent" and said[2][1]
    await page.wait_for(lambda: len(page.events("mark")) >= 2)
    await page.stop()
    row = await _ended(tenant, agent_id)
    assert (row.channel, row.direction, row.caller) == ("webrtc", "inbound", None)
    assert row.ended_reason == "ended_by_user"
    assert [e["content"] for e in row.transcript or [] if e["role"] == "user"] == [
        "Do you take new patients?"
    ]
    voice = row.metadata_["voice"]
    assert voice["carrier"] == "browser" and voice["call_id"] == call.call_id
    # the audit log says who started the call: the console's user, not the system
    started = await _started_event(tenant, row.id)
    assert (started.actor_type, started.actor_id) == ("user", USER.id)
    assert started.credential_id == USER.credential_id
    assert len(voice["turns"]) == 1 and voice["frames_out"] > 0
    await page.close()

    # the token opened its one stream: a replay is refused
    again = FakeCall(_url(stub_voice), call_id=call.call_id)
    await again.connect(call.token, silence=False)
    await asyncio.wait_for(again.closed.wait(), 10)
    assert again.close_code == 1008
    await again.close()


async def test_the_agent_hanging_up_ends_a_browser_call(
    stub_voice: VoiceServer, speech_stub: SpeechStub, tenant: Tenant
) -> None:
    """No carrier REST API: the agent's side ending the call closes the page's socket."""
    agent_id = await _draft(
        tenant, {"instructions": "Help.", "end_call": {"end_phrases": ["that is all"]}}
    )
    call = await _token(stub_voice, tenant, agent_id, "latest")
    speech_stub.script("OK, that is all, thanks")
    page = FakeCall(_url(stub_voice), call_id=call.call_id, speed=4)
    await page.connect(call.token)
    await page.say(speechlike(500))
    await asyncio.wait_for(page.closed.wait(), 10)
    assert [m["reason"] for m in page.events("ended")] == ["end_phrase"]
    row = await _ended(tenant, agent_id)
    assert (row.channel, row.ended_reason) == ("webrtc", "end_phrase")
    await page.close()


async def test_browser_call_tokens_are_refused_where_they_do_not_belong(
    stub_voice: VoiceServer, tenant: Tenant, other_tenant: Tenant
) -> None:
    agent_id = await _draft(tenant, {"instructions": "Help."})
    with pytest.raises(AgentNotLive):
        await _token(stub_voice, tenant, agent_id, "live")
    for choice in ("7", "v1", "99999999999"):
        with pytest.raises(VersionNotFound):
            await _token(stub_voice, tenant, agent_id, choice)
    with pytest.raises(AgentNotFound):  # another organization's agent
        await _token(stub_voice, other_tenant, agent_id, "1")

    # a browser token does not open a carrier's stream, nor a carrier's the browser's
    call = await _token(stub_voice, tenant, agent_id, "1")
    twilio = FakeCall(stub_voice.ws_url, call_id=call.call_id)
    await twilio.connect(call.token, silence=False)
    await asyncio.wait_for(twilio.closed.wait(), 10)
    assert twilio.close_code == 1008
    await twilio.close()

    await configure_twilio(tenant)
    number = await tenant.register_number()
    response = await tenant.publish(agent_id, 1, phone_numbers=[number], direction="inbound")
    assert response.status_code == 200, response.text
    answer = await stub_voice.incoming(
        {"CallSid": "CA-web", "AccountSid": ACCOUNT_SID, "From": "+1", "To": number}
    )
    carrier_token = stream_token(answer.text)
    page = FakeCall(_url(stub_voice), call_id="CA-web")
    await page.connect(carrier_token, silence=False)
    await asyncio.wait_for(page.closed.wait(), 10)
    assert page.close_code == 1008
    await page.close()


async def test_the_console_hands_out_the_token_to_who_may_start_conversations(
    stub_voice: VoiceServer,
    speech_stub: SpeechStub,
    tenant: Tenant,
    other_tenant: Tenant,
    tenants: TenantFactory,
) -> None:
    """The whole path over HTTP: the console session asks for the token (CSRF, scope, org),
    the stream it opens is the call."""
    agent_id = await _draft(tenant, {"instructions": "Help.", "starting_message": GREETING})
    theirs = await _draft(other_tenant, {"instructions": "Theirs."})
    viewer = await tenants.create("viewer")
    async with httpx.AsyncClient(base_url=stub_voice.url, timeout=30) as web:
        assert (await sign_in(web, await link_for(tenant))).status_code == 303
        page = await web.get(f"/console/agents/{agent_id}/call")
        assert page.status_code == 200 and 'id="call"' in page.text
        assert (await web.get(f"/console/agents/{theirs}/call")).status_code == 404
        csrf = csrf_of(page)
        url = f"/console/agents/{agent_id}/call"
        assert (await web.post(url, data={"version": "1"})).status_code == 403  # no CSRF
        elsewhere = await web.post(f"/console/agents/{theirs}/call", data={"csrf_token": csrf})
        assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "agent_not_found"
        not_live = await web.post(url, data={"version": "live", "csrf_token": csrf})
        assert (not_live.status_code, not_live.json()["code"]) == (409, "agent_not_live")
        granted = await web.post(url, data={"version": "1", "csrf_token": csrf})
        assert granted.status_code == 201, granted.text
        call = granted.json()
    async with httpx.AsyncClient(base_url=stub_voice.url, timeout=30) as web:
        assert (await sign_in(web, await link_for(viewer))).status_code == 303
        csrf = csrf_of(await web.get("/console/agents"))
        refused = await web.post(f"/console/agents/{uuid.uuid4()}/call", data={"csrf_token": csrf})
        assert refused.status_code == 403  # a viewer may not start a conversation

    page_client = FakeCall(
        stub_voice.url.replace("http://", "ws://") + call["stream_path"],
        call_id=call["call_id"],
        speed=4,
    )
    await page_client.connect(call["token"])
    await page_client.wait_for(lambda: len(page_client.events("transcript")) >= 1)
    assert page_client.events("transcript")[0]["text"] == GREETING
    await page_client.stop()
    row = await _ended(tenant, agent_id)
    assert (row.channel, row.metadata_["voice"]["call_id"]) == ("webrtc", call["call_id"])
    started = await _started_event(tenant, row.id)  # signed in through the tenant's user's link
    assert (started.actor_type, started.actor_id) == ("user", str(tenant.user_id))
    await page_client.close()

"""Calling an agent from the console: chromium's fake microphone plays a sentence espeak-ng
said, the page streams it over the voice gateway (offline recognition and synthesis), the agent
greets, hears and answers, and the call is a recorded conversation (docs/voice.md)."""

from __future__ import annotations

import io
import shutil
import subprocess
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callplane.agents.schemas import AgentCreate
from callplane.agents.service import AgentService
from callplane.models import Conversation
from callplane.publishing.schemas import PublishRequest
from callplane.publishing.service import PublishingService
from callplane.versions.schemas import VersionUpdate
from callplane.versions.service import VersionService
from tests.console.conftest import Org, World, screenshot, sign_in
from tests.support.browser import CHROMIUM_ARGS, chromium_path

GREETING = "Hello, you called Acme Dental."
SENTENCE = "I would like to book an appointment"

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="the browser call needs the espeak-ng binary (apt-get install espeak-ng)",
)


def caller_audio(path: Path) -> Path:
    """What the fake microphone plays (once): 4 s of silence (the greeting plays meanwhile),
    the sentence, then 3 s of silence (the end of the caller's speech)."""
    said = subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "150", "--stdout", SENTENCE],
        capture_output=True,
        check=True,
    ).stdout
    with wave.open(io.BytesIO(said)) as source:
        rate, width, channels = source.getframerate(), source.getsampwidth(), source.getnchannels()
        speech = source.readframes(source.getnframes())
    frame = width * channels
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\x00" * frame * rate * 4 + speech + b"\x00" * frame * rate * 3)
    return path


@pytest.fixture(scope="module")
def browser(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """This module's chromium: a fake microphone (the file above) that needs no permission."""
    from playwright.sync_api import sync_playwright

    audio = caller_audio(tmp_path_factory.mktemp("call") / "caller.wav")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={audio}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=args, headless=True
        )
        yield launched
        launched.close()


def voice_agent(world: World, org: Org, *, published: bool) -> uuid.UUID:
    async def work(session: Any) -> uuid.UUID:
        agent = await AgentService(session, org.id).create(AgentCreate(name="Front desk"))
        versions = VersionService(session, org.id)
        draft = await versions.latest(agent.id)
        config = {
            **draft.config,
            "instructions": "Help callers of Acme Dental book appointments.",
            "starting_message": GREETING,
            "stt": {"provider": "offline", "model": "pocketsphinx"},
            "voice": {"provider": "offline"},
        }
        await versions.update(agent.id, 1, VersionUpdate.model_validate({"config": config}), None)
        if published:
            await PublishingService(session, org.id).publish(agent.id, 1, PublishRequest())
        return agent.id

    result: uuid.UUID = world.run(work)
    return result


def conversations(world: World, agent_id: uuid.UUID) -> list[Conversation]:
    async def work(session: Any) -> list[Conversation]:
        rows = await session.scalars(select(Conversation).where(Conversation.agent_id == agent_id))
        return list(rows.all())

    result: list[Conversation] = world.run(work)
    return result


def test_call_an_agent_from_the_browser(world: World, page: Any, org: Org) -> None:
    agent_id = voice_agent(world, org, published=True)
    sign_in(world, page, org)
    page.goto(f"{world.url}/console/agents/{agent_id}")
    page.get_by_role("link", name="Call this agent").click()
    page.get_by_role("button", name="Call", exact=True).click()

    turns = page.locator("#call-turns .msg")
    page.locator("#call-turns .msg.agent").first.wait_for(timeout=20_000)
    assert turns.first.locator(".content").inner_text() == GREETING
    # the caller's sentence is recognized and the agent answers it, out loud
    page.locator("#call-turns .msg.user").first.wait_for(timeout=30_000)
    page.locator("#call-turns .msg.agent").nth(1).wait_for(timeout=30_000)
    heard = page.locator("#call-turns .msg.user .content").first.inner_text().lower().split()
    # pocketsphinx on espeak-ng is rough ("i would like to book a"), but the words are there:
    # the page's 8 kHz µ-law is intelligible
    assert {"would", "like", "book", "appointment"} & set(heard), heard
    page.wait_for_function(
        "() => Number(document.getElementById('call-frames-in').textContent) > 50"
    )  # over a second of the agent's audio reached the page
    assert int(page.inner_text("#call-frames-out")) > 100  # and the microphone's went out
    screenshot(page, "call")
    page.get_by_role("button", name="Hang up").click()
    page.locator("#call[data-state='ended']").wait_for()
    assert "you hung up" in page.inner_text("#call-status")

    for _ in range(300):  # the gateway reads what the page sent, then ends the conversation
        rows = conversations(world, agent_id)
        if rows and rows[0].status != "in_progress":
            break
        page.wait_for_timeout(100)
    [row] = rows
    assert (row.channel, row.direction, row.status) == ("webrtc", "inbound", "completed")
    assert row.ended_reason == "ended_by_user"
    roles = [entry["role"] for entry in row.transcript or []]
    assert roles[:3] == ["agent", "user", "agent"], row.transcript
    assert (row.transcript or [])[0]["content"] == GREETING
    voice = row.metadata_["voice"]
    assert voice["carrier"] == "browser" and voice["call_id"].startswith("web-")
    assert voice["turns"] and voice["frames_out"] > 50


def test_a_call_needs_a_token_from_someone_who_may_start_conversations(
    world: World, page: Any, org: Org
) -> None:
    draft_only = voice_agent(world, org, published=False)
    viewer = world.member(org, "viewer")
    sign_in(world, page, org, viewer)
    page.goto(f"{world.url}/console/agents/{draft_only}/call")
    assert "conversations:manage" in page.inner_text("main")  # a viewer may look, not call
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    url = f"{world.url}/console/agents/{draft_only}/call"
    refused = page.request.post(url, form={"version": "1", "csrf_token": csrf})
    assert refused.status == 403

    page.context.clear_cookies()
    sign_in(world, page, org)
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert page.request.post(url, form={"version": "1"}).status == 403  # no CSRF token
    live = page.request.post(url, form={"version": "live", "csrf_token": csrf})
    assert live.status == 409  # nothing is live: a draft can be called by its number
    elsewhere = page.request.post(
        f"{world.url}/console/agents/{uuid.uuid4()}/call", form={"csrf_token": csrf}
    )
    assert elsewhere.status == 404
    granted = page.request.post(url, form={"version": "1", "csrf_token": csrf})
    assert granted.status == 201
    assert granted.json()["version"] == 1 and granted.json()["stream_path"]

    # the media stream refuses a forged token, and the page says so
    page.goto(f"{world.url}/console/agents/{draft_only}/call")
    closed = page.evaluate(
        """(url) => new Promise((done) => {
            const socket = new WebSocket(url);
            socket.onopen = () => socket.send(JSON.stringify({event: "start", streamSid: "MZ1",
                start: {callSid: "web-1", customParameters: {token: "forged"}}}));
            socket.onclose = (event) => done(event.code);
        })""",
        world.url.replace("http://", "ws://") + "/voice/browser/stream",
    )
    assert closed == 1008

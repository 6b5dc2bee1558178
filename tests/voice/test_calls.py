"""Whole calls through the real gateway, STT/TTS at the OpenAI-compatible stub: turn taking,
barge-in, DTMF, hangup and transfer via the carrier's REST API, silence timeout, dropped socket."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from callplane.voice.session import AgentAction
from tests.factories import Tenant
from tests.support.carrier import FakeCall, FakeCarrierAPI, speechlike
from tests.support.speech_stub import SpeechStub
from tests.voice.conftest import VoiceServer, agent_on_number, configure_twilio, stream_token
from tests.voice.scripted import Reply, Scripted

BASIC: dict[str, Any] = {"instructions": "Help callers.", "voice": {"provider": "openai"}}


def _answer(text: str) -> Reply:
    if "transfer" in text:
        return (
            "Transferring you now.",
            [AgentAction("cold_transfer", {"phone_number": "+14155550000"})],
            False,
        )
    if "digits" in text:
        return "Dialing.", [AgentAction("dtmf", {"digits": "42"})], False
    if "bye" in text:
        return "Goodbye!", [AgentAction("hangup", {})], False
    if "long" in text:
        return "This is a rather long answer. " * 8, [], False
    return f"You said {text}.", [], False


@pytest.fixture
def scripted(stub_voice: VoiceServer) -> Iterator[Scripted]:
    gateway = stub_voice.app.state.voice
    original = gateway.brain_factory
    script = Scripted(_answer)
    gateway.brain_factory = script
    yield script
    gateway.brain_factory = original


def _requests_for(api: FakeCarrierAPI, call_id: str) -> list[dict[str, Any]]:
    return [r for r in api.requests if f"/Calls/{call_id}.json" in r["path"]]


async def test_a_call_greets_hears_and_answers(
    stub_voice: VoiceServer, scripted: Scripted, speech_stub: SpeechStub, tenant: Tenant
) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, BASIC)
    speech_stub.script("what are your opening hours")
    call = await stub_voice.place_call(number, call_id="CA-basic", speed=4)
    await call.wait_for(lambda: len(call.events("mark")) >= 1)  # the greeting played
    greeting_frames = len(call.events("media"))
    assert greeting_frames > 5
    await call.say(speechlike(600))
    await call.wait_for(lambda: len(call.events("mark")) >= 2)
    brain = scripted.brains[-1]
    assert brain.heard == ["what are your opening hours"]
    spoken = [s["input"] for s in speech_stub.speeches[-2:]]
    assert spoken == ["Hello, how can I help?", "You said what are your opening hours."]
    assert len(call.events("media")) > greeting_frames
    await call.stop()
    assert brain.closed is not None
    reason, voice = await asyncio.wait_for(brain.closed, 10)
    assert reason == "ended_by_user"
    assert voice["call_id"] == "CA-basic" and voice["late_frames"] == 0
    [turn] = voice["turns"]
    for stage in ("endpointing_ms", "stt_ms", "llm_first_token_ms", "tts_first_chunk_ms"):
        assert turn[stage] is not None and turn[stage] >= 0, turn
    assert turn["first_audio_ms"] >= turn["endpointing_ms"]
    await call.close()


async def test_caller_speech_over_the_agent_clears_its_audio(
    stub_voice: VoiceServer, scripted: Scripted, speech_stub: SpeechStub, tenant: Tenant
) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, BASIC)
    speech_stub.script("give me the long answer", "stop")
    call = await stub_voice.place_call(number, call_id="CA-barge", speed=4)
    await call.wait_for(lambda: len(call.events("mark")) >= 1)
    await call.say(speechlike(500))
    before = len(call.events("media"))
    await call.wait_for(lambda: len(call.events("media")) > before + 10)  # the long answer plays
    await call.say(speechlike(500, seed=2))
    await call.wait_for(lambda: call.events("clear") != [])
    await call.wait_for(lambda: len(scripted.brains[-1].heard) == 2)
    await call.stop()
    _reason, voice = await asyncio.wait_for(scripted.brains[-1].closed, 10)  # type: ignore[arg-type]
    assert [t["interrupted"] for t in voice["turns"]] == [True, False]
    # the long answer (8 sentences, ~2 s at the stub's pace) was cut short
    assert voice["frames_out"] < 400
    await call.close()


async def test_actions_go_through_the_carrier_api(
    stub_voice: VoiceServer,
    scripted: Scripted,
    speech_stub: SpeechStub,
    carrier_api: FakeCarrierAPI,
    tenant: Tenant,
) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, BASIC)
    speech_stub.script("please press the digits", "transfer me")
    call = await stub_voice.place_call(number, call_id="CA-act", speed=4)
    await call.wait_for(lambda: len(call.events("mark")) >= 1)
    await call.say(speechlike(500))
    await call.wait_for(lambda: len(_requests_for(carrier_api, "CA-act")) >= 1)
    [dtmf] = _requests_for(carrier_api, "CA-act")
    twiml = dtmf["body"]["Twiml"]
    assert twiml.startswith('<Response><Play digits="42"/><Connect><Stream')
    assert dtmf["authorization"].startswith("Basic ")
    # Twilio ends this stream and connects the TwiML's new one: the call goes on there
    await asyncio.wait_for(call.closed.wait(), 5)
    first_reason, _ = await asyncio.wait_for(scripted.brains[-1].closed, 5)  # type: ignore[arg-type]
    assert first_reason is None  # not ended: handed over
    call = FakeCall(stub_voice.ws_url, call_id="CA-act")
    await call.connect(stream_token(twiml))
    await call.say(speechlike(500, seed=3))
    await call.wait_for(lambda: len(_requests_for(carrier_api, "CA-act")) >= 2)
    transfer = _requests_for(carrier_api, "CA-act")[1]
    assert transfer["body"]["Twiml"] == "<Response><Dial>+14155550000</Dial></Response>"
    assert scripted.brains[-1].heard == ["transfer me"]
    reason, _ = await asyncio.wait_for(scripted.brains[-1].closed, 10)  # type: ignore[arg-type]
    assert reason == "cold_transfer"
    await call.close()


async def test_hangup_action_and_keypad(
    stub_voice: VoiceServer,
    scripted: Scripted,
    speech_stub: SpeechStub,
    carrier_api: FakeCarrierAPI,
    tenant: Tenant,
) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, BASIC)
    speech_stub.script("ok bye")
    call = await stub_voice.place_call(number, call_id="CA-bye", speed=4)
    await call.wait_for(lambda: len(call.events("mark")) >= 1)
    await call.dtmf("7")
    await call.wait_for(lambda: len(call.events("mark")) >= 2)
    assert scripted.brains[-1].heard == ["The caller pressed 7 on the keypad."]
    await call.say(speechlike(400))
    await asyncio.wait_for(call.closed.wait(), 10)
    [hangup] = _requests_for(carrier_api, "CA-bye")
    assert hangup["body"] == {"Status": "completed"}
    reason, _voice = await asyncio.wait_for(scripted.brains[-1].closed, 10)  # type: ignore[arg-type]
    assert reason == "hangup"
    # the goodbye was spoken before hanging up
    assert speech_stub.speeches[-1]["input"] == "Goodbye!"
    await call.close()


async def test_silence_ends_the_call(
    stub_voice: VoiceServer,
    scripted: Scripted,
    carrier_api: FakeCarrierAPI,
    tenant: Tenant,
    is_postgres: bool,
) -> None:
    # Once, on SQLite: the gateway's silence timer (5 s at least) and what it tells the brain and
    # the carrier do not depend on the database; how an ended call is written is checked on both.
    if is_postgres:
        pytest.skip("the silence timer does not depend on the database: SQLite runs it")
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, {**BASIC, "end_call": {"silence_timeout_seconds": 5}})
    scripted.starting_message = None
    call = await stub_voice.place_call(number, call_id="CA-quiet")
    await asyncio.wait_for(call.closed.wait(), 10)
    reason, _ = await asyncio.wait_for(scripted.brains[-1].closed, 5)  # type: ignore[arg-type]
    assert reason == "idle_timeout"
    assert [r["body"] for r in _requests_for(carrier_api, "CA-quiet")] == [{"Status": "completed"}]
    await call.close()


async def test_a_dropped_socket_closes_the_conversation(
    stub_voice: VoiceServer, scripted: Scripted, tenant: Tenant
) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, BASIC)
    call = await stub_voice.place_call(number, call_id="CA-drop")
    await call.wait_for(lambda: len(call.events("media")) > 3)
    await call.drop()
    reason, voice = await asyncio.wait_for(scripted.brains[-1].closed, 10)  # type: ignore[arg-type]
    assert reason == "error"
    assert voice["failure"] == "socket_dropped"

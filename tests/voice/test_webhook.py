"""The call webhook and the stream's token: signatures, unassigned numbers, replays."""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from callplane.voice.carriers import twilio_signature
from tests.factories import Tenant
from tests.support.carrier import ACCOUNT_SID, AUTH_TOKEN, FakeCall, FakeCarrierAPI, speechlike
from tests.support.speech_stub import SpeechStub
from tests.voice.conftest import VoiceServer, agent_on_number, configure_twilio, stream_token


def _params(number: str, call_id: str = "CA100") -> dict[str, str]:
    return {
        "CallSid": call_id,
        "AccountSid": ACCOUNT_SID,
        "From": "+14155550123",
        "To": number,
        "Direction": "inbound",
    }


async def test_credentials_are_stored_encrypted_and_never_returned(tenant: Tenant) -> None:
    await configure_twilio(tenant)
    shown = await tenant.get("/core/telephony/twilio")
    assert shown.status_code == 200
    assert shown.json()["account_id"] == ACCOUNT_SID
    assert AUTH_TOKEN not in shown.text
    from sqlalchemy import select

    from callplane.models import TelephonyCredential

    async with tenant.database.session(write=False) as session:
        row = (
            await session.scalars(
                select(TelephonyCredential).where(
                    TelephonyCredential.organization_id == tenant.organization_id
                )
            )
        ).one()
    assert AUTH_TOKEN not in row.secret_encrypted
    bad = await tenant.put(
        "/core/telephony/twilio", json={"account_sid": "nope", "auth_token": "x"}
    )
    assert bad.status_code == 422


async def test_other_organization_sees_no_credentials(tenant: Tenant, other_tenant: Tenant) -> None:
    await configure_twilio(tenant)
    assert (await other_tenant.get("/core/telephony/twilio")).status_code == 404
    assert (await other_tenant.delete("/core/telephony/twilio")).status_code == 404
    assert (await tenant.delete("/core/telephony/twilio")).status_code == 204
    assert (await tenant.get("/core/telephony/twilio")).status_code == 404


async def test_signed_call_gets_a_stream_with_a_token(
    stub_voice: VoiceServer, tenant: Tenant
) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, {"instructions": "Help."})
    response = await stub_voice.incoming(_params(number))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    assert '<Connect><Stream url="ws://127.0.0.1:' in response.text
    assert "/voice/twilio/stream" in response.text
    assert stream_token(response.text)


async def test_bad_signature_is_refused(stub_voice: VoiceServer, tenant: Tenant) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, {"instructions": "Help."})
    forged = await stub_voice.incoming(_params(number), token="another-token-0123456789")
    assert forged.status_code == 403
    assert forged.json()["code"] == "invalid_signature"
    missing = await stub_voice.incoming(_params(number), signature="")
    assert missing.status_code == 403
    # a parameter changed after signing
    url = stub_voice.url + "/voice/twilio/incoming"
    params = _params(number)
    signature = twilio_signature(AUTH_TOKEN, url, params)
    tampered = await stub_voice.incoming({**params, "From": "+19999999999"}, signature=signature)
    assert tampered.status_code == 403


async def test_number_without_an_inbound_agent_gets_an_apology(
    stub_voice: VoiceServer, tenant: Tenant
) -> None:
    await configure_twilio(tenant)
    number = await tenant.register_number()
    response = await stub_voice.incoming(_params(number))
    assert response.status_code == 200
    assert "<Say>" in response.text and "<Hangup/>" in response.text
    assert "<Stream" not in response.text
    unknown = await stub_voice.incoming(_params("+14155559999"))
    assert unknown.status_code == 200 and "<Hangup/>" in unknown.text


async def test_stream_needs_a_valid_unused_token(stub_voice: VoiceServer, tenant: Tenant) -> None:
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, {"instructions": "Help."})
    for bad in (None, "garbage", "e30.AAAA"):
        call = FakeCall(stub_voice.ws_url, call_id="CA100")
        await call.connect(bad, silence=False)
        await asyncio.wait_for(call.closed.wait(), 5)
        assert call.close_code == 1008
        assert call.events("media") == []
    token = stream_token((await stub_voice.incoming(_params(number, "CA200"))).text)
    wrong_call = FakeCall(stub_voice.ws_url, call_id="CA201")
    await wrong_call.connect(token, silence=False)
    await asyncio.wait_for(wrong_call.closed.wait(), 5)
    assert wrong_call.close_code == 1008
    # that token was spent by the refused attempt; a fresh one works once, and only once
    token = stream_token((await stub_voice.incoming(_params(number, "CA202"))).text)
    first = FakeCall(stub_voice.ws_url, call_id="CA202")
    await first.connect(token)
    replay = FakeCall(stub_voice.ws_url, call_id="CA202")
    await replay.connect(token, silence=False)
    # The refusal waits behind the first call's start (its conversation's write on SQLite, its
    # greeting): seen over 5 s once on a loaded 2-core CI run.
    await asyncio.wait_for(replay.closed.wait(), 20)
    assert replay.close_code == 1008
    assert not first.closed.is_set()
    await first.stop()
    await first.close()


async def test_a_missing_offline_voice_is_named(
    offline_voice: VoiceServer, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the espeak-ng binary the offline voice cannot speak: the caller hears the
    carrier's apology and the response says which provider is missing."""
    from callplane.voice import providers

    real = shutil.which
    monkeypatch.setattr(
        providers.shutil, "which", lambda name: None if name == "espeak-ng" else real(name)
    )
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, {"instructions": "Help."})
    response = await offline_voice.incoming(_params(number))
    assert response.status_code == 200
    assert "<Hangup/>" in response.text and "<Stream" not in response.text
    assert "tts espeak-ng" in response.headers["x-callplane-voice-missing"]
    assert "apt-get install espeak-ng" in response.headers["x-callplane-voice-missing"]


async def test_telnyx_calls_are_signed_with_ed25519(
    stub_voice: VoiceServer,
    speech_stub: SpeechStub,
    carrier_api: FakeCarrierAPI,
    tenant: Tenant,
) -> None:
    """The Telnyx adapter: TeXML webhook signed with the account's Ed25519 key, Telnyx's stream
    messages, and its call-control REST actions."""
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(
        key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    configured = await tenant.put(
        "/core/telephony/telnyx", json={"api_key": "KEY0123456789", "public_key": public}
    )
    assert configured.status_code == 200, configured.text
    _, number = await agent_on_number(
        tenant, {"instructions": "Help.", "end_call": {"end_phrases": ["goodbye"]}}
    )
    body = urlencode({"CallSid": "v3:call-1", "From": "+14155550111", "To": number})
    stamp = str(int(time.time()))

    async def post(signature: str, timestamp: str = stamp) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(
                stub_voice.url + "/voice/telnyx/incoming",
                content=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "telnyx-signature-ed25519": signature,
                    "telnyx-timestamp": timestamp,
                },
            )

    good = base64.b64encode(key.sign(f"{stamp}|{body}".encode())).decode()
    forged = base64.b64encode(Ed25519PrivateKey.generate().sign(f"{stamp}|{body}".encode()))
    assert (await post(forged.decode())).status_code == 403
    old = str(int(time.time()) - 3600)
    stale = base64.b64encode(key.sign(f"{old}|{body}".encode())).decode()
    assert (await post(stale, old)).status_code == 403
    answered = await post(good)
    assert answered.status_code == 200, answered.text
    assert "/voice/telnyx/stream" in answered.text
    speech_stub.script("thanks, goodbye")
    call = FakeCall(
        stub_voice.url.replace("http://", "ws://") + "/voice/telnyx/stream",
        carrier="telnyx",
        call_id="v3:call-1",
        speed=4,
    )
    await call.connect(stream_token(answered.text))
    await call.say(speechlike(500))
    await asyncio.wait_for(call.closed.wait(), 10)
    actions = [r for r in carrier_api.requests if r["path"].startswith("/v2/calls/v3:call-1/")]
    assert [r["path"] for r in actions] == ["/v2/calls/v3:call-1/actions/hangup"]
    assert actions[0]["authorization"] == "Bearer KEY0123456789"
    await call.close()

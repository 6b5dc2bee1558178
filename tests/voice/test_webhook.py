"""The call webhook and the stream's token: signatures, unassigned numbers, replays."""

from __future__ import annotations

import asyncio

from callplane.voice.carriers import twilio_signature
from tests.factories import Tenant
from tests.support.carrier import ACCOUNT_SID, AUTH_TOKEN, FakeCall
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
    await asyncio.wait_for(replay.closed.wait(), 5)
    assert replay.close_code == 1008
    assert not first.closed.is_set()
    await first.stop()
    await first.close()

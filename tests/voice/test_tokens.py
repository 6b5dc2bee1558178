"""Call tokens are single-use across every process on one database (`used_call_tokens`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from callplane.config import Settings
from callplane.db.engine import Database, create_engine
from callplane.db.types import utcnow
from callplane.kit.secrets import BadToken
from callplane.models import UsedCallToken
from callplane.voice.service import CallContext, VoiceGateway
from tests.factories import Tenant
from tests.support.carrier import ACCOUNT_SID, FakeCall, FakeCarrierAPI
from tests.support.speech_stub import SpeechStub
from tests.voice.conftest import (
    VoiceServer,
    agent_on_number,
    configure_twilio,
    stream_token,
    voice_server,
)


async def _no_brain(*_: object) -> tuple[object, None]:
    raise AssertionError("no call is placed here")


def _context(call_id: str = "CA-token") -> CallContext:
    return CallContext(
        organization_id=uuid.uuid4(),
        agent_id=uuid.uuid4(),
        agent_version_id=uuid.uuid4(),
        version=1,
        carrier="twilio",
        call_id=call_id,
        caller="+14155550100",
        called="+14155550101",
    )


@pytest.fixture
async def two_gateways(settings: Settings) -> AsyncIterator[tuple[VoiceGateway, VoiceGateway]]:
    """Two processes' gateways: each its own engine (pool) on the suite's database."""
    databases = [Database(create_engine(settings.database_url, pool_size=5)) for _ in range(2)]
    gateways = [VoiceGateway(settings, db, _no_brain) for db in databases]  # type: ignore[arg-type]
    yield gateways[0], gateways[1]
    for gateway, db in zip(gateways, databases, strict=True):
        await gateway.close()
        await db.dispose()


async def test_a_token_opens_one_stream_in_any_process(
    two_gateways: tuple[VoiceGateway, VoiceGateway],
) -> None:
    first, second = two_gateways
    token = first.call_token(_context())
    context = await first.redeem(token)
    assert context.call_id == "CA-token"
    with pytest.raises(BadToken, match="already used"):
        await first.redeem(token)  # replayed to the same process
    with pytest.raises(BadToken, match="already used"):
        await second.redeem(token)  # replayed to another process
    # a token minted by the other process is just as good, once
    other = second.call_token(_context("CA-other"))
    assert (await first.redeem(other)).call_id == "CA-other"
    with pytest.raises(BadToken, match="already used"):
        await second.redeem(other)


async def test_concurrent_first_uses_of_a_token_let_exactly_one_in(
    two_gateways: tuple[VoiceGateway, VoiceGateway],
) -> None:
    first, second = two_gateways
    for _ in range(3):
        token = first.call_token(_context())
        attempts = [gateway.redeem(token) for gateway in (first, second) * 4]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        winners = [r for r in results if isinstance(r, CallContext)]
        refused = [r for r in results if isinstance(r, BadToken)]
        assert len(winners) == 1, results
        assert len(refused) == len(attempts) - 1, results
        assert all("already used" in str(r) for r in refused), results


async def test_expired_tokens_rows_are_deleted_and_bad_tokens_leave_none(
    two_gateways: tuple[VoiceGateway, VoiceGateway], database: Database
) -> None:
    gateway, _ = two_gateways
    stale = f"stale-{uuid.uuid4().hex[:12]}"
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            insert(UsedCallToken).values(token_id=stale, expires_at=utcnow() - timedelta(1))
        )

    async def count(token_id: str) -> int:
        async with database.session(write=False) as session:
            statement = select(func.count()).where(UsedCallToken.token_id == token_id)
            return int((await session.scalar(statement)) or 0)

    assert await count(stale) == 1
    for bad in ("", "garbage", "e30.AAAA"):  # refused before anything is written
        with pytest.raises(BadToken):
            await gateway.redeem(bad)
    assert await count(stale) == 1
    gateway._next_prune = 0.0  # due: this redeem also deletes the rows of expired tokens
    await gateway.redeem(gateway.call_token(_context()))
    assert await count(stale) == 0


async def test_a_replay_to_another_app_is_refused(
    stub_voice: VoiceServer,
    settings: Settings,
    carrier_api: FakeCarrierAPI,
    speech_stub: SpeechStub,
    tenant: Tenant,
) -> None:
    """Two API processes behind a load balancer: the carrier's stream reaches one, a replay of
    its token the other (two apps on the suite's database, each with its own engine)."""
    await configure_twilio(tenant)
    _, number = await agent_on_number(tenant, {"instructions": "Help."})
    async with voice_server(
        settings,
        twilio_api_base_url=carrier_api.base_url,
        voice_stt_base_url=speech_stub.base_url,
        voice_tts_base_url=speech_stub.base_url,
    ) as other_app:
        response = await stub_voice.incoming(
            {
                "CallSid": "CA300",
                "AccountSid": ACCOUNT_SID,
                "From": "+14155550123",
                "To": number,
                "Direction": "inbound",
            }
        )
        assert response.status_code == 200, response.text
        token = stream_token(response.text)
        first = FakeCall(stub_voice.ws_url, call_id="CA300")
        await first.connect(token)
        replay = FakeCall(other_app.ws_url, call_id="CA300")
        await replay.connect(token, silence=False)
        await asyncio.wait_for(replay.closed.wait(), 5)
        assert replay.close_code == 1008
        assert replay.events("media") == []
        assert not first.closed.is_set()
        await first.stop()
        await first.close()

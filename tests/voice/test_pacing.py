"""The outbound player: frames paced to absolute real-time slots, sent ahead of them through a
small jitter buffer, so a stall of the event loop makes no frame late (no database)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from callplane.voice.audio import FRAME_BYTES
from callplane.voice.carriers import TwilioStream
from callplane.voice.providers import Providers, Transcription
from callplane.voice.session import (
    BUFFER_SECONDS,
    FRAME_SECONDS,
    LATE_SECONDS,
    REFILL_SECONDS,
    CallSession,
    Rules,
)
from tests.voice.scripted import ScriptedBrain

pytestmark = pytest.mark.nodb

SECOND_OF_AUDIO = 50  # frames


class _NoSpeech:
    name = "none"

    def available(self) -> str | None:
        return None

    async def prepare(self) -> None:
        return None

    async def open(self) -> Transcription:
        raise AssertionError("nobody speaks in these calls")


class _Tone:
    """One second of audio per sentence, in 100 ms chunks."""

    name = "tone"

    def available(self) -> str | None:
        return None

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"\x10\x00" * (FRAME_BYTES // 2) * 5


async def _greet(stall_at: int | None, stall_seconds: float) -> tuple[CallSession, list[float]]:
    """A call that only says its greeting; the send of frame `stall_at` blocks the event loop
    (as another call's CPU work, or the process waiting for a core, would)."""
    sent: list[float] = []
    stopped = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message.get("event") == "media":
            sent.append(time.perf_counter())
            if len(sent) == stall_at:
                time.sleep(stall_seconds)  # noqa: ASYNC251 - the stall under test
        elif message.get("event") == "mark":
            stopped.set()

    async def receive() -> dict[str, Any] | None:
        await stopped.wait()
        await asyncio.sleep(BUFFER_SECONDS + 0.05)  # the carrier plays what it buffered
        return {"event": "stop", "streamSid": "MZ1"}

    session = CallSession(
        call_id="CA-pacing",
        stream_id="MZ1",
        carrier=TwilioStream(),
        send=send,
        brain=ScriptedBrain(lambda text: ("", [], False)),
        providers=Providers(stt=_NoSpeech(), tts=_Tone()),
        control=None,
        rules=Rules(silence_timeout=None),
        starting_message="Hello.",
    )
    await asyncio.wait_for(session.run(receive), 10)
    return session, sent


async def test_frames_go_out_ahead_of_their_slots_at_real_time() -> None:
    session, sent = await _greet(None, 0)
    assert session.frames_out == len(sent) == SECOND_OF_AUDIO
    assert session.late_frames == 0
    # paced, not dumped: the last frame left no earlier than its slot less the buffer
    assert sent[-1] - sent[0] >= (SECOND_OF_AUDIO - 1) * FRAME_SECONDS - BUFFER_SECONDS - 0.01
    # and ahead: the buffer filled at once. In the first 100 ms, frames for 200 ms and more went
    # out (40 ms ahead, as before the jitter buffer, it was 140 ms: 7 frames)
    early = sum(1 for t in sent if t - sent[0] < 0.1)
    assert early >= int(BUFFER_SECONDS / FRAME_SECONDS), [round(t - sent[0], 3) for t in sent]


async def test_a_stall_shorter_than_the_buffer_makes_no_frame_late() -> None:
    """A 100 ms stall: with frames sent only 40 ms ahead (before the jitter buffer) the frames
    after it went out ≥ 60 ms behind their slots; now at least REFILL_SECONDS are buffered."""
    assert REFILL_SECONDS + LATE_SECONDS > 0.1 + 0.04  # room for the scheduler's own delay
    session, _ = await _greet(20, 0.1)
    assert session.frames_out == SECOND_OF_AUDIO
    assert session.late_frames == 0, session.most_behind


async def test_a_stall_longer_than_the_buffer_is_counted_late() -> None:
    """The definition still bites: 400 ms of stall is more than any buffer hides."""
    session, _ = await _greet(20, 0.4)
    assert session.late_frames >= 1
    assert session.most_behind > LATE_SECONDS


def test_audio_sent_ahead_but_cleared_leaves_the_recording(tmp_path: Any) -> None:
    from callplane.voice.recording import Recorder

    recorder = Recorder(str(tmp_path), "barge")
    recorder.heard(b"\x01\x00" * 8000)  # one second of the caller
    recorder.said(b"\x02\x00" * 800)  # 100 ms of the agent, from where the caller had got to
    recorder.said(b"\x03\x00" * 1600)  # 200 ms more, sent ahead
    recorder.unsaid(0.2)  # the caller barged in: the last 200 ms never played
    assert len(recorder._agent) == 2 * (8000 + 800)
    recorder.unsaid(5.0)  # never more than what runs past the caller's audio
    assert len(recorder._agent) == len(recorder._caller)

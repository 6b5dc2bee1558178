"""One phone call: caller audio in, endpointing, recognition, the agent's turn, speech out.

The session is carrier-neutral: it gets the stream's events (`carriers.StreamEvent`) and sends
carrier messages through the stream protocol it was given. The conversation engine sits behind
`Brain` (one engine turn per caller turn, streamed), the carrier's REST API behind
`carriers.CallControl`.

Turn taking:
- the VAD marks the caller's speech; recognition runs while they speak (`Transcription.feed`);
- at the end of speech the text goes to the engine; its reply is cut into sentences, each
  synthesized as soon as it is complete, and the audio is paced out at real time (so the
  session always knows whether the agent is audible, and a late frame is measurable);
- caller speech while the agent is audible is a barge-in: the queued audio is dropped and the
  carrier told to `clear` what it buffered; the engine's turn still completes (it is recorded);
- the end-call rules (silence timeout, max duration, end phrases) and the engine's actions
  (hangup, cold transfer, DTMF) end or redirect the call through the carrier's REST API.

Per turn it measures end of speech → first audio frame out, split into endpointing, STT, LLM
first token (and first sentence), TTS first chunk and the rest: callplane's own overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from callplane.voice import metrics
from callplane.voice.audio import FRAME_BYTES, frames, pcm_to_ulaw, ulaw_to_pcm
from callplane.voice.carriers import (
    CallControl,
    Dtmf,
    Mark,
    Media,
    Start,
    Stop,
    StreamEvent,
    StreamProtocol,
)
from callplane.voice.providers import Providers, Transcription
from callplane.voice.recording import Recorder
from callplane.voice.vad import Endpointer

logger = logging.getLogger("callplane.voice")

FRAME_SECONDS = 0.02
LATE_SECONDS = 0.04  # a frame sent this far behind its real-time slot is late
# The jitter buffer: frames go out up to BUFFER_SECONDS ahead of their real-time slot (the carrier
# plays them at real time from its own buffer). When the buffer is full the player sleeps until
# it is down to REFILL_SECONDS, then tops it up in one go: a few wake-ups a second per call
# rather than one per frame, and a stall of the event loop or of the process (another call's
# engine turn, the machine's other work) shorter than REFILL_SECONDS + LATE_SECONDS makes no
# frame late. A barge-in `clear`s what the carrier buffered.
BUFFER_SECONDS = 0.2
REFILL_SECONDS = 0.12
SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


# --- what the session needs from the engine ------------------------------------------------


@dataclass
class TextDelta:
    text: str


@dataclass
class AgentAction:
    type: str
    data: dict[str, Any]


@dataclass
class TurnDone:
    ended: bool = False
    reason: str | None = None


BrainEvent = TextDelta | AgentAction | TurnDone


class Brain(Protocol):
    """The conversation behind the call (a live conversation of the engine)."""

    conversation_id: Any  # what a resumed stream's token names (None: not resumable)

    def reply(self, text: str) -> AsyncIterator[BrainEvent]: ...

    async def close(self, reason: str | None, voice: dict[str, Any]) -> None:
        """End the conversation (`reason` from the engine's vocabulary) and keep `voice` (call
        id, per-turn timings, recording) with it; `reason` None: the call goes on in another
        stream (Twilio restarts the stream after DTMF), keep `voice` without ending."""


@dataclass
class Rules:
    """The agent version's end-call rules and the gateway's endpointing."""

    silence_timeout: float | None = 30.0
    max_duration: float = 1800.0
    end_phrases: list[str] = field(default_factory=list)
    endpointing_ms: int = 400
    vad_aggressiveness: int = 2


@dataclass
class _Turn:
    index: int
    user_text: str | None
    last_voice: float | None = None  # end of the caller's speech
    detected: float | None = None  # the endpointer said so
    transcribed: float | None = None
    engine_called: float | None = None
    first_token: float | None = None
    first_sentence: float | None = None
    tts_asked: float | None = None
    tts_first_chunk: float | None = None
    first_frame: float | None = None
    interrupted: bool = False  # the caller barged in
    silenced: bool = False  # its audio stopped (barge-in, or the call ending)
    queued: int = 0
    played: asyncio.Event = field(default_factory=asyncio.Event)

    def timings(self) -> dict[str, Any]:
        """Milliseconds per stage; `overhead_ms` is what no provider accounts for."""
        out: dict[str, Any] = {"turn": self.index, "interrupted": self.interrupted}

        def span(a: float | None, b: float | None) -> float | None:
            return round((b - a) * 1000, 1) if a is not None and b is not None else None

        out["endpointing_ms"] = span(self.last_voice, self.detected)
        out["stt_ms"] = span(self.detected, self.transcribed)
        out["llm_first_token_ms"] = span(self.engine_called, self.first_token)
        out["llm_first_sentence_ms"] = span(self.engine_called, self.first_sentence)
        out["tts_first_chunk_ms"] = span(self.tts_asked, self.tts_first_chunk)
        out["first_audio_ms"] = span(self.last_voice, self.first_frame)
        parts = [
            out["endpointing_ms"],
            out["stt_ms"],
            out["llm_first_sentence_ms"],
            out["tts_first_chunk_ms"],
        ]
        if out["first_audio_ms"] is not None and all(p is not None for p in parts):
            out["overhead_ms"] = round(out["first_audio_ms"] - sum(parts), 1)
        else:
            out["overhead_ms"] = None
        return out


_MARK = (b"", b"")  # a queue entry that is not audio: the turn's audio ends here


class CallSession:
    def __init__(
        self,
        *,
        call_id: str,
        stream_id: str,
        carrier: StreamProtocol,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        brain: Brain,
        providers: Providers,
        control: CallControl | None,
        rules: Rules,
        starting_message: str | None = None,
        recorder: Recorder | None = None,
        resume_twiml: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.call_id = call_id
        self.stream_id = stream_id
        self.carrier = carrier
        self._send = send
        self.brain = brain
        self.providers = providers
        self.control = control
        self.rules = rules
        self.starting_message = starting_message
        self.recorder = recorder
        self._resume_twiml = resume_twiml
        self._clock = clock
        self._endpointer = Endpointer(
            silence_ms=rules.endpointing_ms, aggressiveness=rules.vad_aggressiveness
        )
        self._preroll: deque[bytes] = deque(maxlen=10)
        self._utterance: Transcription | None = None
        self._utterance_opening: asyncio.Task[Transcription] | None = None
        # (turn, (8 kHz PCM, its µ-law)): frames are encoded when queued, not when due
        self._queue: asyncio.Queue[tuple[_Turn, tuple[bytes, bytes]]] = asyncio.Queue()
        self._audible: _Turn | None = None  # the turn whose audio is queued or playing
        self._reply: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._due: float | None = None
        self._turn_count = 0
        self._started = clock()
        self._last_activity = self._started
        self._done = asyncio.Event()
        self.ended_reason: str | None = None
        self.handed_over = False
        self._stopping = False
        self.turns: list[dict[str, Any]] = []
        self.late_frames = 0
        self.frames_out = 0
        self.most_behind = 0.0  # seconds: the furthest behind its slot a frame went out
        self.dtmf_sent: list[str] = []
        self.failed: str | None = None

    # --- lifecycle -------------------------------------------------------------------------

    async def run(self, receive: Callable[[], Coroutine[Any, Any, dict[str, Any] | None]]) -> str:
        """Drive the call until it ends; the ended reason. `receive` gives the carrier's next
        message, or None when the socket went away without a `stop`."""
        self._tasks = [
            asyncio.create_task(self._player()),
            asyncio.create_task(self._watchdog()),
            asyncio.create_task(self._prepare()),
        ]
        if self.starting_message:
            self._reply = asyncio.create_task(self._speak(self.starting_message))
        done_waiter = asyncio.create_task(self._done.wait())
        reason = "error"
        try:
            while True:
                receiving: asyncio.Task[dict[str, Any] | None] = asyncio.create_task(receive())
                finished, _ = await asyncio.wait(
                    {receiving, done_waiter}, return_when=asyncio.FIRST_COMPLETED
                )
                if done_waiter in finished:
                    receiving.cancel()
                    reason = self.ended_reason or "hangup"
                    break
                message = receiving.result()
                if message is None and self.handed_over:
                    reason = "handed_over"
                    break
                if message is None:  # dropped: no `stop` from the carrier
                    reason = self.ended_reason or "error"
                    self.failed = self.failed or "socket_dropped"
                    break
                event = self.carrier.parse(message)
                if isinstance(event, Stop):
                    reason = self.ended_reason or "ended_by_user"
                    break
                await self.handle(event)
        finally:
            done_waiter.cancel()
            await self._finish(reason)
        return reason

    async def _prepare(self) -> None:
        try:
            await self.providers.stt.prepare()
        except Exception:
            logger.exception("preparing speech recognition for call %s failed", self.call_id)

    async def handle(self, event: StreamEvent | None) -> None:
        if isinstance(event, Media):
            await self._on_audio(event.payload)
        elif isinstance(event, Dtmf) and event.digit:
            self._last_activity = self._clock()
            await self._start_turn(None, f"The caller pressed {event.digit} on the keypad.")
        elif isinstance(event, Mark | Start):
            pass  # our own marks come back as the carrier plays them; nothing waits on them

    async def _finish(self, reason: str) -> None:
        self.ended_reason = reason
        self._stopping = True
        self._silence_all()
        if self._reply is not None and not self._reply.done():
            # the turn in flight is written by the engine only if it completes: give it a moment
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reply), 5.0)
            self._reply.cancel()
        for task in self._tasks:
            task.cancel()
        await self._drop_utterance()
        voice: dict[str, Any] = {
            "call_id": self.call_id,
            "carrier": self.carrier.name,
            "turns": self.turns,
            "frames_out": self.frames_out,
            "late_frames": self.late_frames,
            "most_behind_ms": round(self.most_behind * 1000, 1),
            "duration_seconds": round(self._clock() - self._started, 3),
        }
        if self.failed:
            voice["failure"] = self.failed
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                voice["recording"] = await self.recorder.save()
        if not self.handed_over:
            metrics.CALLS.labels(self.carrier.name, reason).inc()
        try:
            await self.brain.close(None if self.handed_over else reason, voice)
        except Exception:
            logger.exception("closing the conversation of call %s failed", self.call_id)

    async def end_call(self, reason: str) -> None:
        """The agent's side ends the call: hang up through the carrier, then stop."""
        if self._done.is_set():
            return
        self.ended_reason = reason
        if self.control is not None:
            try:
                await self.control.hang_up(self.call_id)
            except Exception:
                logger.exception("hanging up call %s failed", self.call_id)
        self._done.set()

    # --- caller audio ----------------------------------------------------------------------

    async def _on_audio(self, ulaw: bytes) -> None:
        pcm = ulaw_to_pcm(ulaw)
        if self.recorder is not None:
            self.recorder.heard(pcm)
        for offset in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            await self._on_frame(pcm[offset : offset + FRAME_BYTES])

    async def _on_frame(self, frame: bytes) -> None:
        change = self._endpointer.feed(frame)
        if change == "speech_start":
            self._last_activity = self._clock()
            if self._audible is not None:
                await self._barge_in()
            self._utterance = await self.providers.stt.open()
            for earlier in self._preroll:
                await self._utterance.feed(earlier)
            await self._utterance.feed(frame)
        elif self._utterance is not None:
            await self._utterance.feed(frame)
        self._preroll.append(frame)
        if change == "speech_end" and self._utterance is not None:
            now = self._clock()
            self._last_activity = now
            utterance, self._utterance = self._utterance, None
            last_voice = now - self._endpointer_silence()
            await self._start_turn(utterance, None, last_voice=last_voice, detected=now)

    def _endpointer_silence(self) -> float:
        return self.rules.endpointing_ms / 1000

    async def _drop_utterance(self) -> None:
        if self._utterance is not None:
            utterance, self._utterance = self._utterance, None
            with contextlib.suppress(Exception):
                await utterance.cancel()

    async def _barge_in(self) -> None:
        """The caller talks over the agent: drop its queued audio and the carrier's buffer."""
        turn = self._audible
        if turn is None:
            return
        turn.interrupted = True
        if self.recorder is not None and self._due is not None:  # sent ahead, cleared unplayed
            self.recorder.unsaid(self._due - self._clock())
        self._silence_all()
        await self._send(self.carrier.clear(self.stream_id))

    def _silence_all(self) -> None:
        """Stop every queued or playing turn's audio (they count as played)."""
        if self._audible is not None:
            self._audible.silenced = True
            self._audible.played.set()
            self._audible = None
        while not self._queue.empty():
            turn, _ = self._queue.get_nowait()
            turn.silenced = True
            turn.played.set()
        self._due = None

    # --- turns -----------------------------------------------------------------------------

    async def _start_turn(
        self,
        utterance: Transcription | None,
        text: str | None,
        *,
        last_voice: float | None = None,
        detected: float | None = None,
    ) -> None:
        self._turn_count += 1
        turn = _Turn(self._turn_count, text, last_voice=last_voice, detected=detected)
        previous = self._reply
        self._reply = asyncio.create_task(self._turn(turn, utterance, previous))

    async def _turn(
        self, turn: _Turn, utterance: Transcription | None, previous: asyncio.Task[None] | None
    ) -> None:
        try:
            if utterance is not None:
                turn.user_text = await utterance.finish()
                turn.transcribed = self._clock()
            if previous is not None:  # engine turns are one at a time, in order
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await previous
            if not turn.user_text:
                return  # noise, a cough: nothing was said
            await self._respond(turn)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("turn %s of call %s failed", turn.index, self.call_id)
            self.failed = "turn_failed"
            await self.end_call("error")

    async def _respond(self, turn: _Turn) -> None:
        assert turn.user_text is not None
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.create_task(self._synthesize(turn, sentences))
        actions: list[AgentAction] = []
        done = TurnDone()
        buffer = ""
        turn.engine_called = self._clock()
        try:
            async for event in self.brain.reply(turn.user_text):
                if isinstance(event, TextDelta):
                    if turn.first_token is None:
                        turn.first_token = self._clock()
                    buffer += event.text
                    *complete, buffer = SENTENCE_END.split(buffer)
                    for sentence in complete:
                        if sentence.strip():
                            if turn.first_sentence is None:
                                turn.first_sentence = self._clock()
                            sentences.put_nowait(sentence.strip())
                elif isinstance(event, AgentAction):
                    if event.type == "play_message" and event.data.get("message"):
                        if turn.first_sentence is None:
                            turn.first_sentence = self._clock()
                        sentences.put_nowait(str(event.data["message"]))
                    else:
                        actions.append(event)
                elif isinstance(event, TurnDone):
                    done = event
        finally:
            if buffer.strip():
                if turn.first_sentence is None:
                    turn.first_sentence = self._clock()
                sentences.put_nowait(buffer.strip())
            sentences.put_nowait(None)
        await speaker
        await turn.played.wait()
        self._last_activity = self._clock()
        self._record(turn)
        await self._carry_out(turn, actions, done)

    async def _speak(self, text: str) -> None:
        """Say `text` as the agent (the starting message), outside any engine turn."""
        turn = _Turn(0, None)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        sentences.put_nowait(text)
        sentences.put_nowait(None)
        try:
            await self._synthesize(turn, sentences)
            await turn.played.wait()
        except Exception:
            logger.exception("speaking the starting message of call %s failed", self.call_id)
        self._last_activity = self._clock()

    async def _synthesize(self, turn: _Turn, sentences: asyncio.Queue[str | None]) -> None:
        """Synthesize sentences in order as they come, queueing 20 ms frames for the player."""
        carry = b""
        while (sentence := await sentences.get()) is not None:
            if turn.silenced or self._stopping:
                continue
            if turn.tts_asked is None:
                turn.tts_asked = self._clock()
            async for chunk in self.providers.tts.synthesize(sentence):
                if turn.silenced or self._stopping:
                    break
                if turn.tts_first_chunk is None:
                    turn.tts_first_chunk = self._clock()
                chunk = carry + chunk
                usable = len(chunk) - len(chunk) % FRAME_BYTES
                carry = chunk[usable:]
                for frame in frames(chunk[:usable]) if usable else []:
                    self._enqueue(turn, frame)
        if carry and not (turn.silenced or self._stopping):
            for frame in frames(carry):
                self._enqueue(turn, frame)
        if turn.queued and not (turn.silenced or self._stopping):
            self._queue.put_nowait((turn, _MARK))
        else:
            turn.played.set()

    def _enqueue(self, turn: _Turn, frame: bytes) -> None:
        self._audible = turn
        turn.queued += 1
        self._queue.put_nowait((turn, (frame, pcm_to_ulaw(frame))))

    async def _player(self) -> None:
        """Send queued frames paced to real time: each frame has an absolute slot (`_due`, the
        previous slot + 20 ms; a burst after a pause starts now) and goes out up to
        BUFFER_SECONDS before it (the jitter buffer, see above). A frame that was ready but
        goes out more than LATE_SECONDS behind its slot is late."""
        while True:
            starved = self._queue.empty()
            turn, entry = await self._queue.get()
            frame, ulaw = entry
            if turn.silenced:
                continue
            now = self._clock()
            if starved or self._due is None:  # a burst starts now, or where the last one ends
                self._due = max(now, self._due or now)
            if self._due - now > BUFFER_SECONDS:  # full: sleep until it is down to the refill mark
                await asyncio.sleep(self._due - REFILL_SECONDS - now)
                if turn.silenced:
                    continue
            if entry is _MARK:
                await self._send(self.carrier.mark(self.stream_id, f"turn-{turn.index}"))
                remaining = self._due - self._clock()
                if remaining > 0:
                    await asyncio.sleep(remaining)  # the carrier is still playing it
                if self._audible is turn:
                    self._audible = None
                turn.played.set()
                continue
            behind = self._clock() - self._due
            self.most_behind = max(self.most_behind, behind)
            if behind > LATE_SECONDS:
                self.late_frames += 1
                metrics.LATE_FRAMES.inc()
                if behind > 0.2:  # far behind: play on from now rather than rush to catch up
                    self._due = self._clock()
            await self._send(self.carrier.media(self.stream_id, ulaw))
            self.frames_out += 1
            if turn.first_frame is None:
                turn.first_frame = self._clock()
            if self.recorder is not None:
                self.recorder.said(frame)
            self._due += FRAME_SECONDS

    # --- after a turn ----------------------------------------------------------------------

    def _record(self, turn: _Turn) -> None:
        timings = turn.timings()
        self.turns.append(timings)
        stages = {
            "endpointing": timings["endpointing_ms"],
            "stt": timings["stt_ms"],
            "llm_first_token": timings["llm_first_token_ms"],
            "tts_first_chunk": timings["tts_first_chunk_ms"],
            "overhead": timings["overhead_ms"],
            "total": timings["first_audio_ms"],
        }
        for stage, value in stages.items():
            if value is not None:
                metrics.TURN_STAGE.labels(stage).observe(max(value, 0.0) / 1000)

    async def _carry_out(self, turn: _Turn, actions: list[AgentAction], done: TurnDone) -> None:
        for action in actions:
            data = action.data
            if action.type == "hangup":
                await self.end_call("hangup")
                return
            if action.type in ("cold_transfer", "warm_transfer"):
                target = str(data.get("phone_number") or data.get("sip_uri") or "")
                if target and self.control is not None:
                    try:
                        await self.control.transfer(self.call_id, target)
                    except Exception:
                        logger.exception("transferring call %s failed", self.call_id)
                        continue
                    self.ended_reason = action.type
                    self._done.set()
                    return
            if action.type == "dtmf":
                digits = str(data.get("digits") or "")
                if digits and self.control is not None:
                    resume = self._resume_twiml() if self._resume_twiml else ""
                    try:
                        restarts = await self.control.send_dtmf(self.call_id, digits, resume)
                        self.dtmf_sent.append(digits)
                        if restarts:  # this stream ends; the call resumes in a new one
                            self.handed_over = True
                            self._done.set()
                            return
                    except Exception:
                        logger.exception("sending DTMF on call %s failed", self.call_id)
        if done.ended:
            await self.end_call(done.reason or "hangup")
            return
        if turn.user_text and _says_end_phrase(turn.user_text, self.rules.end_phrases):
            await self.end_call("end_phrase")

    async def _watchdog(self) -> None:
        """Silence timeout and maximum duration, checked five times a second."""
        while not self._done.is_set():
            await asyncio.sleep(0.2)
            now = self._clock()
            if now - self._started >= self.rules.max_duration:
                await self.end_call("max_duration")
                return
            busy = (
                self._endpointer.speaking
                or self._audible is not None
                or (self._reply is not None and not self._reply.done())
            )
            if busy:
                self._last_activity = now
            elif (
                self.rules.silence_timeout is not None
                and now - self._last_activity >= self.rules.silence_timeout
            ):
                await self.end_call("idle_timeout")
                return


def _says_end_phrase(text: str, phrases: list[str]) -> bool:
    said = " ".join(re.findall(r"\w+", text.lower()))
    return any(" ".join(re.findall(r"\w+", phrase.lower())) in said for phrase in phrases if phrase)

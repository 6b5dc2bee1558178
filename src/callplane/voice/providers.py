"""Speech-to-text and text-to-speech behind two small protocols, and which one a call gets.

- OpenAI-compatible (`POST {base}/audio/transcriptions`, `POST {base}/audio/speech`), any base
  URL: used when `CALLPLANE_VOICE_STT_BASE_URL` / `CALLPLANE_VOICE_TTS_BASE_URL` is set and the
  agent version does not ask for the offline provider.
- Offline (the default): pocketsphinx (BSD, its English model ships inside the wheel) recognizes
  while the caller speaks; `espeak-ng` (a GPL binary, run as an external process, never linked)
  synthesizes. No download, no account; robotic voice, fair recognition of natural speech.

Recognition and synthesis are CPU work: pocketsphinx runs in worker threads (it releases the
GIL), espeak-ng in its own process; the event loop only moves bytes.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from callplane.agent_config.schemas import AgentConfig
from callplane.config import Settings
from callplane.voice import audio
from callplane.voice.audio import RATE, from_wav, resample, to_wav

OFFLINE_STT = frozenset({"offline", "pocketsphinx"})
OFFLINE_TTS = frozenset({"offline", "espeak", "espeak-ng"})
OPENAI_PCM_RATE = 24000  # `response_format: pcm` of /audio/speech: 24 kHz 16-bit mono


class ProviderUnavailable(Exception):
    """A provider this call needs cannot run here (e.g. the espeak-ng binary is missing)."""


class Transcription(Protocol):
    """One utterance being recognized: audio in as it arrives, the text at the end."""

    async def feed(self, pcm: bytes) -> None: ...  # 8 kHz 16-bit mono
    async def finish(self) -> str: ...
    async def cancel(self) -> None: ...


class SpeechToText(Protocol):
    name: str

    def available(self) -> str | None:
        """None when usable; else why not (shown to operators)."""

    async def open(self) -> Transcription: ...


class TextToSpeech(Protocol):
    name: str

    def available(self) -> str | None: ...

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """8 kHz 16-bit mono PCM chunks, the first as early as the provider can."""


# --- OpenAI-compatible ----------------------------------------------------------------------


class _BufferedTranscription:
    def __init__(self, provider: OpenAISpeechToText):
        self._provider = provider
        self._audio = bytearray()

    async def feed(self, pcm: bytes) -> None:
        self._audio += pcm

    async def finish(self) -> str:
        return await self._provider.transcribe(bytes(self._audio))

    async def cancel(self) -> None:
        self._audio.clear()


class OpenAISpeechToText:
    """`/audio/transcriptions` with the utterance as an 8 kHz WAV."""

    name = "openai"

    def __init__(self, client: httpx.AsyncClient, base_url: str, model: str, language: str | None):
        self._client = client
        self._url = base_url.rstrip("/") + "/audio/transcriptions"
        self._model = model
        self._language = language.split("-")[0].lower() if language else None

    def available(self) -> str | None:
        return None

    async def open(self) -> Transcription:
        return _BufferedTranscription(self)

    async def transcribe(self, pcm: bytes) -> str:
        data = {"model": self._model, "response_format": "json"}
        if self._language:
            data["language"] = self._language
        response = await self._client.post(
            self._url, data=data, files={"file": ("speech.wav", to_wav(pcm), "audio/wav")}
        )
        response.raise_for_status()
        return str(response.json().get("text", "")).strip()


class OpenAITextToSpeech:
    """`/audio/speech` with `response_format: pcm` (24 kHz), streamed and resampled to 8 kHz."""

    name = "openai"

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, model: str, voice: str, speed: float
    ):
        self._client = client
        self._url = base_url.rstrip("/") + "/audio/speech"
        self._body = {"model": model, "voice": voice, "speed": speed, "response_format": "pcm"}

    def available(self) -> str | None:
        return None

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        state: Any = None
        carry = b""
        async with self._client.stream("POST", self._url, json={**self._body, "input": text}) as r:
            r.raise_for_status()
            async for chunk in r.aiter_bytes():
                chunk = carry + chunk
                usable = len(chunk) - len(chunk) % 2
                carry = chunk[usable:]
                if usable:
                    out, state = _ratecv(chunk[:usable], OPENAI_PCM_RATE, RATE, state)
                    if out:
                        yield out


def _ratecv(pcm: bytes, from_rate: int, to_rate: int, state: Any) -> tuple[bytes, Any]:
    converted, state = audio.audioop.ratecv(pcm, 2, 1, from_rate, to_rate, state)
    return converted, state


# --- offline --------------------------------------------------------------------------------


class _DecoderPool:
    """pocketsphinx decoders (≈0.3 s to load each), reused across calls: one per concurrent
    utterance, created on first need."""

    def __init__(self) -> None:
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        from pocketsphinx import Decoder

        return Decoder(samprate=16000, loglevel="FATAL")

    def give(self, decoder: Any) -> None:
        with self._lock:
            self._idle.append(decoder)


class _PocketsphinxTranscription:
    """Decodes while the caller speaks: audio is handed to a worker thread in ~200 ms batches,
    so at the end of speech little is left to decode."""

    BATCH = RATE * 2 // 5  # 200 ms of 8 kHz 16-bit audio, in bytes

    def __init__(self, pool: _DecoderPool, decoder: Any):
        self._pool = pool
        self._decoder = decoder
        self._pending = bytearray()
        self._work: asyncio.Task[None] | None = None

    async def feed(self, pcm: bytes) -> None:
        self._pending += pcm
        if len(self._pending) >= self.BATCH and (self._work is None or self._work.done()):
            batch = bytes(self._pending)
            self._pending.clear()
            previous = self._work
            self._work = asyncio.create_task(self._process(batch, previous))

    async def _process(self, batch: bytes, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous
        await asyncio.to_thread(self._decoder.process_raw, resample(batch, RATE, 16000))

    async def finish(self) -> str:
        if self._work is not None:
            await self._work
        rest = resample(bytes(self._pending), RATE, 16000)
        try:
            return await asyncio.to_thread(self._end, rest)
        finally:
            self._pool.give(self._decoder)

    def _end(self, rest: bytes) -> str:
        if rest:
            self._decoder.process_raw(rest)
        self._decoder.end_utt()
        hypothesis = self._decoder.hyp()
        return hypothesis.hypstr.strip() if hypothesis is not None else ""

    async def cancel(self) -> None:
        if self._work is not None:
            await self._work
        await asyncio.to_thread(self._decoder.end_utt)
        self._pool.give(self._decoder)


class OfflineSpeechToText:
    name = "pocketsphinx"

    def __init__(self) -> None:
        self._pool = _DecoderPool()

    def available(self) -> str | None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:  # pragma: no cover - a dependency of callplane[server]
            return "pocketsphinx is not installed (pip install pocketsphinx)"
        return None

    async def open(self) -> Transcription:
        decoder = await asyncio.to_thread(self._started)
        return _PocketsphinxTranscription(self._pool, decoder)

    def _started(self) -> Any:
        decoder = self._pool.take()
        decoder.start_utt()
        return decoder

    async def warm(self) -> None:
        """Load one decoder ahead of the first call (≈0.3 s)."""
        self._pool.give(await asyncio.to_thread(self._pool.take))


def _espeak_voice(language: str) -> str:
    return language.lower() if language.lower() in {"en-us", "en-gb"} else language.split("-")[0]


class OfflineTextToSpeech:
    """The `espeak-ng` binary (GPL, an external process): ~25 ms per sentence, robotic."""

    name = "espeak-ng"

    def __init__(self, language: str = "en-US", speed: float = 1.0):
        self._voice = _espeak_voice(language)
        self._words_per_minute = str(round(175 * speed))

    def available(self) -> str | None:
        if shutil.which("espeak-ng") is None:
            return "the espeak-ng binary is not installed (apt-get install espeak-ng)"
        return None

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise ProviderUnavailable(self.available())
        process = await asyncio.create_subprocess_exec(
            binary,
            "-v",
            self._voice,
            "-s",
            self._words_per_minute,
            "--stdout",
            "--",
            text,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        wav, _ = await process.communicate()
        if process.returncode != 0 or not wav:
            raise ProviderUnavailable(f"espeak-ng failed (exit {process.returncode})")
        pcm = await asyncio.to_thread(_wav_to_telephone, wav)
        yield pcm


def _wav_to_telephone(wav: bytes) -> bytes:
    pcm, rate = from_wav(wav)
    return resample(pcm, rate, RATE)


# --- choosing -------------------------------------------------------------------------------


@dataclass
class Providers:
    stt: SpeechToText
    tts: TextToSpeech

    def missing(self) -> list[str]:
        """What cannot run, as `stt <name>: <why>` lines (empty when the call can go ahead)."""
        problems = []
        for kind, provider in (("stt", self.stt), ("tts", self.tts)):
            reason = provider.available()
            if reason:
                problems.append(f"{kind} {provider.name}: {reason}")
        return problems


class ProviderRegistry:
    """One per process: the HTTP client and the offline recognizer's decoders are shared."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, connect=5.0),
            headers=(
                {"Authorization": f"Bearer {settings.voice_api_key}"}
                if settings.voice_api_key
                else {}
            ),
        )
        self.offline_stt = OfflineSpeechToText()

    def for_config(self, config: AgentConfig) -> Providers:
        settings = self.settings
        stt: SpeechToText
        if config.stt.provider in OFFLINE_STT or not settings.voice_stt_base_url:
            stt = self.offline_stt
        else:
            model = config.stt.model if config.stt.provider == "openai" else None
            stt = OpenAISpeechToText(
                self.client,
                settings.voice_stt_base_url,
                model or settings.voice_stt_model,
                config.stt.language,
            )
        tts: TextToSpeech
        if config.voice.provider in OFFLINE_TTS or not settings.voice_tts_base_url:
            tts = OfflineTextToSpeech(config.voice.language, config.voice.speed)
        else:
            tts = OpenAITextToSpeech(
                self.client,
                settings.voice_tts_base_url,
                settings.voice_tts_model,
                config.voice.voice_id,
                config.voice.speed,
            )
        return Providers(stt, tts)

    async def close(self) -> None:
        await self.client.aclose()

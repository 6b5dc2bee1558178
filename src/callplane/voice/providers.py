"""Speech-to-text and text-to-speech behind two small protocols, and which one a call gets.

- OpenAI-compatible (`POST {base}/audio/transcriptions`, `POST {base}/audio/speech`), any base
  URL: used when `CALLPLANE_VOICE_STT_BASE_URL` / `CALLPLANE_VOICE_TTS_BASE_URL` is set and the
  agent version does not ask for the offline provider.
- Offline (the default): pocketsphinx (BSD, its English model ships inside the wheel) recognizes
  while the caller speaks; `espeak-ng` (a GPL binary, run as an external process, never linked)
  synthesizes. No download, no account; robotic voice, fair recognition of natural speech.

Recognition and synthesis are CPU work: pocketsphinx runs in worker processes (it holds the GIL
while decoding: in a thread it stalls every call), espeak-ng in its own process; the event loop
only moves bytes.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from callplane.agent_config.schemas import AgentConfig
from callplane.config import Settings
from callplane.voice import audio
from callplane.voice.audio import RATE, from_wav, resample, to_wav
from callplane.voice.sphinx import Worker, WorkerPool

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

    async def prepare(self) -> None:
        """Get ready for a call's first utterance (called as the call starts)."""

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

    async def prepare(self) -> None:
        pass

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


class _PocketsphinxTranscription:
    """Fed to a worker process while the caller speaks (in ~100 ms batches), so at the end of
    speech little is left to decode. Without a free worker (the pool is at its cap) the audio is
    kept and decoded at the end, on the next worker freed."""

    BATCH = RATE // 5  # 100 ms of 8 kHz 16-bit audio, in bytes

    def __init__(self, pool: WorkerPool, worker: Worker | None):
        self._pool = pool
        self._worker = worker
        self._pending = bytearray()
        if worker is not None:
            worker.send(b"S")

    async def feed(self, pcm: bytes) -> None:
        self._pending += pcm
        if self._worker is not None and len(self._pending) >= self.BATCH:
            self._worker.send(b"A", bytes(self._pending))
            self._pending.clear()

    async def finish(self) -> str:
        worker = self._worker
        if worker is None:
            worker = await self._pool.take(wait=True)
            assert worker is not None
            worker.send(b"S")
        self._worker = None
        try:
            if self._pending:
                worker.send(b"A", bytes(self._pending))
            worker.send(b"E")
            return await worker.result()
        finally:
            await self._pool.give(worker)

    async def cancel(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.send(b"C")
            await self._pool.give(worker)


class OfflineSpeechToText:
    name = "pocketsphinx"

    def __init__(self, workers: int = 4) -> None:
        self._pool = WorkerPool(workers)

    def available(self) -> str | None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:  # pragma: no cover - a dependency of callplane[server]
            return "pocketsphinx is not installed (pip install pocketsphinx)"
        return None

    async def prepare(self) -> None:
        await self._pool.warm()

    async def open(self) -> Transcription:
        return _PocketsphinxTranscription(self._pool, await self._pool.take(wait=False))

    def close(self) -> None:
        self._pool.close()


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
        self.offline_stt = OfflineSpeechToText(settings.voice_offline_stt_workers)

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
        self.offline_stt.close()
        await self.client.aclose()

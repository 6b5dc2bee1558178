"""Telephone audio: 8 kHz µ-law frames of 20 ms, 16-bit PCM inside.

`audioop` is the stdlib module on 3.11/3.12 and the `audioop-lts` wheel (same module name) on
3.13+; its conversions take microseconds per frame, so they run on the event loop. Everything
heavier (recognition, synthesis) runs in threads or processes (see `providers`).
"""

from __future__ import annotations

import io
import warnings
import wave

with warnings.catch_warnings():  # deprecated in 3.11/3.12 only: audioop-lts keeps it on 3.13+
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = ["audioop"]  # providers resample streams with its state-carrying ratecv

RATE = 8000  # carrier audio: 8 kHz mono
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 16-bit PCM: 320 bytes; µ-law: 160


def ulaw_to_pcm(data: bytes) -> bytes:
    return audioop.ulaw2lin(data, 2)


def pcm_to_ulaw(data: bytes) -> bytes:
    return audioop.lin2ulaw(data, 2)


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Mono 16-bit PCM from one rate to another (whole buffers: no state across calls)."""
    if from_rate == to_rate or not pcm:
        return pcm
    converted, _ = audioop.ratecv(pcm, 2, 1, from_rate, to_rate, None)
    return converted


def frames(pcm: bytes) -> list[bytes]:
    """20 ms frames at 8 kHz; the last one padded with silence."""
    if len(pcm) % FRAME_BYTES:
        pcm += b"\x00" * (FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def silence(milliseconds: int) -> bytes:
    return b"\x00" * (RATE * milliseconds // 1000 * 2)


def to_wav(pcm: bytes, rate: int = RATE, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


def from_wav(data: bytes) -> tuple[bytes, int]:
    """Mono 16-bit PCM and its rate from a WAV file (stereo is mixed down)."""
    with wave.open(io.BytesIO(data), "rb") as source:
        channels, width, rate = source.getnchannels(), source.getsampwidth(), source.getframerate()
        pcm = source.readframes(source.getnframes())
    if width != 2:
        pcm = audioop.lin2lin(pcm, width, 2)
    if channels == 2:
        pcm = audioop.tomono(pcm, 2, 0.5, 0.5)
    return pcm, rate


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mono tracks as one stereo buffer (the shorter padded with silence)."""
    length = max(len(left), len(right))
    left, right = left.ljust(length, b"\x00"), right.ljust(length, b"\x00")
    return audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2)

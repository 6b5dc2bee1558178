"""Call recordings: a stereo WAV (caller left, agent right) in a local directory.

Both tracks are laid on the call's own clock, the caller's audio: the carrier streams it
continuously (silence included), so the agent's frame goes where the caller's audio had got to
when it was sent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from callplane.voice.audio import RATE, interleave, to_wav


class Recorder:
    def __init__(self, directory: str, name: str):
        self.path = Path(directory) / f"{name}.wav"
        self._caller = bytearray()
        self._agent = bytearray()

    def heard(self, pcm: bytes) -> None:
        self._caller += pcm

    def said(self, pcm: bytes) -> None:
        if len(self._agent) < len(self._caller):
            self._agent += b"\x00" * (len(self._caller) - len(self._agent))
        self._agent += pcm

    def unsaid(self, seconds: float) -> None:
        """The last `seconds` of the agent's audio were sent ahead but never played (the caller
        barged in and the carrier dropped them): take them off the agent's track."""
        cut = min(int(seconds * RATE) * 2, max(len(self._agent) - len(self._caller), 0))
        if cut > 0:
            del self._agent[-cut:]

    async def save(self) -> dict[str, object]:
        caller, agent = bytes(self._caller), bytes(self._agent)
        await asyncio.to_thread(self._write, caller, agent)
        seconds = max(len(caller), len(agent)) / 2 / RATE
        return {
            "path": str(self.path.resolve()),
            "format": "wav",
            "channels": 2,
            "sample_rate": RATE,
            "duration_seconds": round(seconds, 2),
        }

    def _write(self, caller: bytes, agent: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(to_wav(interleave(caller, agent), RATE, channels=2))

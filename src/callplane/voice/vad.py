"""Endpointing: when the caller starts and stops talking, from 20 ms frames (WebRTC's VAD).

A start needs a few voiced frames out of the last several (a click is not speech); an end needs
`silence_ms` of unvoiced frames after speech. The detector is C code taking microseconds per
frame: it runs on the event loop, frame by frame, as audio arrives.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import webrtcvad

from callplane.voice.audio import FRAME_BYTES, FRAME_MS, RATE

Change = Literal["speech_start", "speech_end"]


class Endpointer:
    def __init__(
        self,
        *,
        silence_ms: int = 400,
        aggressiveness: int = 2,
        start_frames: int = 3,
        window_frames: int = 5,
    ):
        self._vad = webrtcvad.Vad(aggressiveness)
        self._silence_frames = max(1, silence_ms // FRAME_MS)
        self._start_frames = start_frames
        self._window: deque[bool] = deque(maxlen=window_frames)
        self._unvoiced = 0
        self.speaking = False

    def feed(self, frame: bytes) -> Change | None:
        """One 20 ms frame of 8 kHz 16-bit PCM; says when speech started or ended."""
        if len(frame) != FRAME_BYTES:
            return None
        voiced = self._vad.is_speech(frame, RATE)
        self._window.append(voiced)
        if not self.speaking:
            if sum(self._window) >= self._start_frames:
                self.speaking = True
                self._unvoiced = 0
                return "speech_start"
            return None
        self._unvoiced = 0 if voiced else self._unvoiced + 1
        if self._unvoiced >= self._silence_frames:
            self.speaking = False
            self._window.clear()
            return "speech_end"
        return None

    @property
    def trailing_silence_ms(self) -> int:
        """How much of the current silence has gone by (the endpointing part of a turn)."""
        return self._unvoiced * FRAME_MS

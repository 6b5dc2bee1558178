"""pocketsphinx in worker processes (`python -m callplane.voice.sphinx`).

pocketsphinx's Python binding holds the GIL while it decodes (measured: a 4 s decode in a
thread stalled the event loop for 4 s), so it cannot run in threads beside live calls. Each
worker process owns one decoder (≈0.3 s to load) and decodes one utterance at a time, fed while
the caller speaks; the pool keeps idle workers for the next utterance and caps how many run.

The protocol on the worker's stdin: one command byte and a 4-byte big-endian length, then that
many bytes: `S` start an utterance, `A` 8 kHz 16-bit audio, `E` end it (the worker answers the
text, length-prefixed), `C` cancel it. The worker writes `R` once its decoder is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import sys
from typing import Any

# Narrower beams than pocketsphinx's defaults: 0.19 s of CPU per second of audio instead of
# 0.45 (measured on this machine), for about the same words on telephone audio.
SEARCH = {"beam": 1e-40, "wbeam": 1e-28, "pbeam": 1e-40}


def main() -> None:  # pragma: no cover - runs in the worker process
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, loglevel="FATAL", **SEARCH)
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sink.write(b"R")
    sink.flush()
    state: Any = None
    while header := source.read(5):
        if len(header) < 5:
            return
        kind, length = header[:1], struct.unpack(">I", header[1:])[0]
        payload = source.read(length) if length else b""
        if kind == b"S":
            decoder.start_utt()
            state = None
        elif kind == b"A":
            pcm, state = audioop.ratecv(payload, 2, 1, 8000, 16000, state)
            decoder.process_raw(pcm)
        elif kind in (b"E", b"C"):
            decoder.end_utt()
            if kind == b"E":
                hypothesis = decoder.hyp()
                text = (hypothesis.hypstr.strip() if hypothesis is not None else "").encode()
                sink.write(struct.pack(">I", len(text)) + text)
                sink.flush()


class Worker:
    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process

    @classmethod
    async def start(cls) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "callplane.voice.sphinx",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert process.stdout is not None
        if await process.stdout.readexactly(1) != b"R":
            raise RuntimeError("the pocketsphinx worker did not start")
        return cls(process)

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(kind + struct.pack(">I", len(payload)) + payload)

    async def result(self) -> str:
        assert self.process.stdout is not None
        length = struct.unpack(">I", await self.process.stdout.readexactly(4))[0]
        return (await self.process.stdout.readexactly(length)).decode()

    def alive(self) -> bool:
        return self.process.returncode is None

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class WorkerPool:
    def __init__(self, size: int):
        self.size = size
        self._idle: list[Worker] = []
        self._count = 0
        self._available: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._available is None:
            self._available = asyncio.Condition()
        return self._available

    async def take(self, *, wait: bool) -> Worker | None:
        """An idle worker, a new one while under `size`, else (wait) the next one freed."""
        available = self._condition()
        async with available:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._count -= 1
                if self._count < self.size:
                    self._count += 1
                    break
                if not wait:
                    return None
                await available.wait()
        try:
            return await Worker.start()
        except Exception:
            async with available:
                self._count -= 1
                available.notify()
            raise

    async def warm(self) -> None:
        """Have one idle worker ready (≈0.5 s to start one), unless the pool is at its cap."""
        if self._idle:
            return
        worker = await self.take(wait=False)
        if worker is not None:
            await self.give(worker)

    async def give(self, worker: Worker) -> None:
        available = self._condition()
        async with available:
            if worker.alive():
                self._idle.append(worker)
            else:
                self._count -= 1
            available.notify()

    def close(self) -> None:
        for worker in self._idle:
            worker.stop()
        self._idle.clear()


if __name__ == "__main__":
    main()

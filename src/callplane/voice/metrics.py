"""Prometheus histograms of the voice gateway (default registry, served by GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TURN_STAGE = Histogram(
    "callplane_voice_turn_stage_seconds",
    "Per caller turn, end of the caller's speech to the first audio frame out, by stage: "
    "endpointing, stt, llm_first_token, tts_first_chunk, overhead (callplane's own), total.",
    ("stage",),
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0),
)
CALLS = Counter(
    "callplane_voice_calls",
    "Calls the voice gateway handled, by carrier and ended reason.",
    ("carrier", "reason"),
)
LATE_FRAMES = Counter(
    "callplane_voice_late_frames",
    "Outbound audio frames sent more than 40 ms behind real time.",
)

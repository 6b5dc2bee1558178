"""A local OpenAI-compatible `/v1/embeddings` server with embeddings that know synonyms.

Each text's vector counts its words' *concepts* in 64 dimensions: words of one concept (e.g.
`car`, `automobile`, `vehicle`) land on the same dimension, so semantic search finds a passage
about cars for a query about automobiles, which keyword search cannot. `fail_next` answers that
many requests with HTTP 503 (a transient error) before answering normally again.
"""

from __future__ import annotations

import json
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback import LoopbackServer

DIMENSIONS = 64
CONCEPTS = {
    "automobile": "car",
    "vehicle": "car",
    "cars": "car",
    "physician": "doctor",
    "medic": "doctor",
    "doctors": "doctor",
    "refund": "money_back",
    "refunds": "money_back",
    "reimbursement": "money_back",
    "repayment": "money_back",
    "canine": "dog",
    "puppy": "dog",
    "dogs": "dog",
}
_WORD = re.compile(r"[a-z0-9]+")


def concept_vector(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for word in _WORD.findall(text.lower()):
        concept = CONCEPTS.get(word, word)
        vector[zlib.crc32(concept.encode()) % DIMENSIONS] += 1.0
    if not any(vector):
        vector[0] = 1.0
    return vector


class EmbeddingsStub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_next = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.requests.append(body)
                    failing = stub.fail_next > 0
                    if failing:
                        stub.fail_next -= 1
                if failing or not self.path.endswith("/embeddings"):
                    status = 503 if failing else 404
                    self._send(status, {"error": {"message": "unavailable", "type": "server"}})
                    return
                texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": concept_vector(text)}
                    for i, text in enumerate(texts)
                ]
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model", "stub"),
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = LoopbackServer(Handler)
        self.url = f"http://127.0.0.1:{self._server.port}/v1"

    @property
    def texts_embedded(self) -> int:
        return sum(
            len(r["input"]) if isinstance(r.get("input"), list) else 1 for r in self.requests
        )

    def close(self) -> None:
        self._server.close()

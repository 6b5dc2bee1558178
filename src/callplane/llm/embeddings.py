"""Embeddings from any OpenAI-compatible `/embeddings` endpoint (OpenAI, vLLM, Ollama, TEI...).

Vectors are returned normalized to unit length, packed as little-endian float32 (`pack`), so that
cosine similarity is a dot product (`similarity`) computed in process: no vector extension is
needed in the database (pgvector is not assumed; see docs/knowledge.md for the limit).
"""

from __future__ import annotations

import math
import operator
import struct
from array import array
from collections.abc import Sequence
from typing import Any, cast

import httpx

from callplane.llm.provider import LLMError, _openai, _translate


class Embedder:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        dimensions: int | None = None,
        timeout_seconds: float = 30.0,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        sdk = _openai()
        self._errors: type[Exception] = sdk.OpenAIError
        self._client = sdk.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout_seconds,
            max_retries=max_retries,
            http_client=cast(Any, http_client),
        )

    async def embed(self, texts: Sequence[str]) -> list[bytes]:
        """One packed unit vector per text, in order. Raises LLMError (its `transient` says
        whether retrying may help)."""
        if not texts:
            return []
        extra: dict[str, Any] = {}
        if self.dimensions:
            extra["dimensions"] = self.dimensions
        try:
            response = await self._client.embeddings.create(
                model=self.model, input=list(texts), **extra
            )
        except self._errors as error:
            raise _translate(error) from error
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(texts):
            raise LLMError(
                f"The embeddings endpoint returned {len(ordered)} vectors for {len(texts)} texts."
            )
        return [pack(item.embedding) for item in ordered]


def pack(vector: Sequence[float]) -> bytes:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return struct.pack(f"<{len(vector)}f", *(x / norm for x in vector))


def unpack(data: bytes) -> array[float]:
    values = array("f")
    values.frombytes(data)
    return values


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two unit vectors (0.0 when their dimensions differ)."""
    if len(a) != len(b):
        return 0.0
    return float(sum(map(operator.mul, a, b)))

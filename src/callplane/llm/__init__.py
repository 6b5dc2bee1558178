"""Language-model writing: a provider protocol, an OpenAI-compatible provider, and the writers
(template or model) that produce agent instructions and change summaries."""

from callplane.llm.provider import (
    LLMEmptyResponse,
    LLMError,
    LLMProvider,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    Message,
    OpenAICompatibleProvider,
)
from callplane.llm.writer import (
    GeneratedInstructions,
    LLMWriter,
    TemplateWriter,
    Writer,
    writer_for,
)

__all__ = [
    "GeneratedInstructions",
    "LLMEmptyResponse",
    "LLMError",
    "LLMProvider",
    "LLMRequestRejected",
    "LLMTimeout",
    "LLMUnavailable",
    "LLMWriter",
    "Message",
    "OpenAICompatibleProvider",
    "TemplateWriter",
    "Writer",
    "writer_for",
]

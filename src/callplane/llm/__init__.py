"""Language-model writing: a provider protocol, an OpenAI-compatible provider, and the writers
(template or model) that produce agent instructions and change summaries."""

from callplane.llm.provider import (
    ChatItem,
    ChatModel,
    LLMEmptyResponse,
    LLMError,
    LLMProvider,
    LLMRequestRejected,
    LLMTimeout,
    LLMUnavailable,
    Message,
    OpenAICompatibleProvider,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from callplane.llm.writer import (
    GeneratedInstructions,
    LLMWriter,
    TemplateWriter,
    Writer,
    writer_for,
)

__all__ = [
    "ChatItem",
    "ChatModel",
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
    "TextDelta",
    "ToolCallRequest",
    "Usage",
    "Writer",
    "writer_for",
]

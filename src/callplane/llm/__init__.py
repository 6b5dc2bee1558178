"""Language-model writing: a provider protocol, an OpenAI-compatible provider, and the writers
(template or model) that produce agent instructions and change summaries."""

from callplane.llm.provider import (
    LLMEmptyResponse,
    LLMError,
    LLMProvider,
    LLMRequestRejected,
    LLMSettings,
    LLMTimeout,
    LLMUnavailable,
    Message,
    OpenAICompatibleProvider,
    llm_settings_from_env,
    provider_from_env,
)
from callplane.llm.summary import NO_DIFFERENCES
from callplane.llm.writer import (
    GeneratedInstructions,
    LLMWriter,
    TemplateWriter,
    Writer,
    writer_from_env,
)

__all__ = [
    "NO_DIFFERENCES",
    "GeneratedInstructions",
    "LLMEmptyResponse",
    "LLMError",
    "LLMProvider",
    "LLMRequestRejected",
    "LLMSettings",
    "LLMTimeout",
    "LLMUnavailable",
    "LLMWriter",
    "Message",
    "OpenAICompatibleProvider",
    "TemplateWriter",
    "Writer",
    "llm_settings_from_env",
    "provider_from_env",
    "writer_from_env",
]

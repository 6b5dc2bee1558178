"""The LLM provider protocol and its implementation on any OpenAI-compatible endpoint.

Callers see only `LLMProvider` and our own `LLMError` tree: the `openai` client is an
implementation detail, and `transient` tells a workflow whether retrying can help.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, cast

if TYPE_CHECKING:
    import httpx
    import openai
    from openai.types.chat import ChatCompletionMessageParam

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_TIMEOUT_SECONDS = 30.0


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class LLMProvider(Protocol):
    """A chat model: one whole answer, or the answer as it is produced."""

    async def complete(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> str: ...

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]: ...


# --- chat with tools (the conversation engine) -------------------------------------------------


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text, as the model produced it."""

    text: str


@dataclass(frozen=True)
class ToolCallRequest:
    """One complete tool call (its streamed argument fragments joined). `arguments` is the raw
    JSON text the model wrote: it may be malformed, and the caller decides what that means."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


ChatItem = TextDelta | ToolCallRequest | Usage


class ChatModel(Protocol):
    """A chat model that streams text and may call tools (OpenAI chat-completions semantics):
    text deltas as they come, then the complete tool calls, then the usage when the endpoint
    reports it. `messages` and `tools` are in the OpenAI wire format."""

    @property
    def name(self) -> str:
        """The default model's name (a request may name another)."""
        ...

    def stream_chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None,
        model: str | None,
        temperature: float,
        max_tokens: int | None,
    ) -> AsyncIterator[ChatItem]: ...


# --- errors ---------------------------------------------------------------------------------------


class LLMError(Exception):
    """A model call failed. `transient` errors may succeed when retried; the others will not."""

    transient: bool = False
    code: str = "llm_error"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class LLMTimeout(LLMError):
    transient = True
    code = "llm_timeout"


class LLMUnavailable(LLMError):
    """The endpoint is down, overloaded (5xx) or rate limiting us (429)."""

    transient = True
    code = "llm_unavailable"


class LLMRequestRejected(LLMError):
    """The endpoint refused the request (4xx other than 429): bad key, unknown model, too long…"""

    transient = False
    code = "llm_request_rejected"


class LLMEmptyResponse(LLMError):
    """The model answered with no text. Sampling may differ on a retry, so it is transient."""

    transient = True
    code = "llm_empty_response"


def _openai() -> Any:
    """The `openai` package (~25 MB) loads when a provider is first built, not at start-up."""
    import openai

    return openai


def _translate(exc: Exception) -> LLMError:
    openai = _openai()
    """Map the client's exceptions onto ours (order matters: a timeout is a connection error)."""
    if isinstance(exc, openai.APITimeoutError):
        return LLMTimeout("The language model did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return LLMUnavailable(f"Could not reach the language model: {exc.message}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = f"The language model endpoint answered {status}: {exc.message}"
        if status == 429 or status >= 500:
            return LLMUnavailable(detail, status_code=status)
        return LLMRequestRejected(detail, status_code=status)
    return LLMError(f"The language model call failed: {exc}")


# --- OpenAI-compatible endpoint -------------------------------------------------------------------


class OpenAICompatibleProvider:
    """Chat completions on OpenAI, vLLM, Ollama, llama.cpp server or anything speaking that API."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str = DEFAULT_MODEL,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        sdk = _openai()
        self._errors: type[Exception] = sdk.OpenAIError
        self._client: openai.AsyncOpenAI = sdk.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout_seconds,
            max_retries=max_retries,
            # openai 3.x types this as an httpx2 client but also accepts an httpx one.
            http_client=cast(Any, http_client),
        )

    async def complete(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> str:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=max_tokens,
                temperature=temperature,
            )
        except self._errors as exc:
            raise _translate(exc) from exc
        content = response.choices[0].message.content if response.choices else None
        if not content or not content.strip():
            raise LLMEmptyResponse("The language model returned an empty answer.")
        return content

    async def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[str]:
        produced = False
        try:
            chunks = await self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
            )
            async with chunks:
                async for chunk in chunks:
                    text = chunk.choices[0].delta.content if chunk.choices else None
                    if text:
                        produced = True
                        yield text
        except self._errors as exc:
            raise _translate(exc) from exc
        if not produced:
            raise LLMEmptyResponse("The language model returned an empty answer.")

    async def stream_chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None,
        model: str | None,
        temperature: float,
        max_tokens: int | None,
    ) -> AsyncIterator[ChatItem]:
        """Text deltas as they arrive; tool calls once the stream ends (their arguments come in
        fragments keyed by index); usage last. Errors are our `LLMError`s."""
        options: dict[str, Any] = {}
        if tools:
            options["tools"] = list(tools)
        if max_tokens is not None:
            options["max_tokens"] = max_tokens
        calls: dict[int, dict[str, str]] = {}
        usage: Usage | None = None
        try:
            chunks = await self._client.chat.completions.create(
                model=model or self.model,
                messages=cast("list[ChatCompletionMessageParam]", list(messages)),
                temperature=temperature,
                stream=True,
                stream_options={"include_usage": True},
                **options,
            )
            async with chunks:
                async for chunk in chunks:
                    if chunk.usage is not None:
                        usage = Usage(
                            chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0
                        )
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta
                    if delta.content:
                        yield TextDelta(delta.content)
                    for fragment in delta.tool_calls or ():
                        call = calls.setdefault(
                            fragment.index, {"id": "", "name": "", "arguments": ""}
                        )
                        if fragment.id:
                            call["id"] = fragment.id
                        if fragment.function is not None:
                            call["name"] += fragment.function.name or ""
                            call["arguments"] += fragment.function.arguments or ""
        except self._errors as exc:
            raise _translate(exc) from exc
        for index in sorted(calls):
            call = calls[index]
            yield ToolCallRequest(call["id"] or f"call_{index}", call["name"], call["arguments"])
        if usage is not None:
            yield usage

    @property
    def name(self) -> str:
        return self.model

    async def aclose(self) -> None:
        await self._client.close()

"""`stream_chat`: text deltas, tool calls joined from their streamed fragments, usage, errors."""

from __future__ import annotations

import pytest

from callplane.llm import (
    LLMRequestRejected,
    LLMTimeout,
    OpenAICompatibleProvider,
    TextDelta,
    ToolCallRequest,
    Usage,
)
from tests.support.llm_stub import Scripted, ScriptedCall, StubLLMServer

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


async def collect(provider: OpenAICompatibleProvider, **kwargs: object) -> list[object]:
    options = {"tools": TOOLS, "model": "m", "temperature": 0.1, "max_tokens": 50, **kwargs}
    return [
        item
        async for item in provider.stream_chat(
            [{"role": "user", "content": "hi"}],
            **options,  # type: ignore[arg-type]
        )
    ]


async def test_text_tool_calls_and_usage(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.script.append(
        Scripted(
            text="Let me check.",
            tool_calls=[
                ScriptedCall("f", {"city": "Oslo"}, id="a"),
                ScriptedCall("g", '{"broken": ', id="b"),
            ],
            usage=(30, 4),
        )
    )
    items = await collect(provider)
    assert items == [
        TextDelta("Let "),
        TextDelta("me "),
        TextDelta("check."),
        ToolCallRequest("a", "f", '{"city": "Oslo"}'),
        ToolCallRequest("b", "g", '{"broken": '),
        Usage(30, 4),
    ]
    body = stub.requests[-1].body
    assert body["tools"] == TOOLS and body["model"] == "m" and body["max_tokens"] == 50
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_no_tools_and_no_max_tokens_are_not_sent(
    stub: StubLLMServer, provider: OpenAICompatibleProvider
) -> None:
    stub.script.append(Scripted(text="Hi."))
    items = await collect(provider, tools=None, max_tokens=None)
    assert items[0] == TextDelta("Hi.")
    body = stub.requests[-1].body
    assert "tools" not in body and "max_tokens" not in body


async def test_errors_are_ours(stub: StubLLMServer, provider: OpenAICompatibleProvider) -> None:
    stub.script.append(Scripted(fail_status=404))
    with pytest.raises(LLMRequestRejected):
        await collect(provider)
    stub.script.append(Scripted(text="one two", hang_after_first_chunk=True))
    with pytest.raises(LLMTimeout):
        await collect(provider)

"""What a turn emits, in order: the same objects feed the SSE stream, the JSON answer, the
voice runtimes and the agent tests. Each event has `.event` (the SSE event name) and `.data()`
(a JSON-able dict); docs/runtime.md shows every shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Passage:
    """A knowledge passage given to the model (and cited by the answer)."""

    chunk_id: str
    document_id: str
    collection_id: str
    title: str | None
    url: str | None
    text: str
    score: float

    def citation(self) -> dict[str, Any]:
        """What the agent message records: the passage without its text."""
        data = asdict(self)
        data.pop("text")
        return data


@dataclass(frozen=True)
class Delta:
    event: ClassVar[str] = "delta"
    text: str

    def data(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class ToolCall:
    event: ClassVar[str] = "tool_call"
    id: str
    name: str
    arguments: dict[str, Any] | str  # the raw text when it is not a JSON object

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True)
class ToolResult:
    event: ClassVar[str] = "tool_result"
    id: str
    name: str
    content: str
    is_error: bool = False

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content": self.content,
            "is_error": self.is_error,
        }


@dataclass(frozen=True)
class Knowledge:
    event: ClassVar[str] = "knowledge"
    passages: tuple[Passage, ...]

    def data(self) -> dict[str, Any]:
        return {"passages": [asdict(passage) for passage in self.passages]}


@dataclass(frozen=True)
class Action:
    """Something a runtime acts on: `type` is hangup, cold_transfer, warm_transfer, dtmf,
    play_message or end_phrase; `details` its data (phone_number/sip_uri, digits, message...)."""

    event: ClassVar[str] = "action"
    type: str
    details: dict[str, Any] = field(default_factory=dict)

    def data(self) -> dict[str, Any]:
        return {"type": self.type, **self.details}


@dataclass(frozen=True)
class Error:
    event: ClassVar[str] = "error"
    code: str
    message: str

    def data(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Done:
    """The turn's end: the agent's final message, whether the conversation ended, and why."""

    event: ClassVar[str] = "done"
    content: str
    citations: tuple[dict[str, Any], ...]
    tool_calls: tuple[dict[str, Any], ...]
    ended: bool
    ended_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str

    def message(self) -> dict[str, Any]:
        return {
            "role": "agent",
            "content": self.content,
            "citations": list(self.citations),
            "tool_calls": list(self.tool_calls),
        }

    def data(self) -> dict[str, Any]:
        return {
            "message": self.message(),
            "ended": self.ended,
            "ended_reason": self.ended_reason,
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
            "model": self.model,
        }


Event = Delta | ToolCall | ToolResult | Knowledge | Action | Error | Done

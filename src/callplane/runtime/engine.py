"""The turn loop: one user message in, the agent's events out.

`Turn(context, deps).run(content)` streams events (runtime/events.py) and leaves behind what
the conversation's transcript gains (`entries`) and whether the conversation ended. It holds no
database session: whoever drives it loads the conversation before and writes the turn after.

Per turn: end phrases first (the conversation ends, no model call); then the knowledge passages
of the attached collections (a `knowledge` event, and a system message for the model); then the
model, streamed, with the config's tools; each tool call runs the tool's actions, its result goes
back to the model, until it answers in text, an action ends the conversation, or the tool-step
budget (`max_tool_steps`, channel override first) is spent: then the model is asked once more
without tools. Without a model (`deps.model is None`) the offline responder answers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

import jsonschema

from callplane.agent_config.schemas import (
    AgentConfig,
    HttpRequestAction,
    KnowledgeBaseAction,
    Tool,
    WorkflowAction,
    WorkflowTarget,
)
from callplane.llm.provider import ChatModel, LLMError, TextDelta, ToolCallRequest, Usage
from callplane.runtime import offline, prompt, templates
from callplane.runtime.events import (
    Action,
    Delta,
    Done,
    Error,
    Event,
    Knowledge,
    Passage,
    ToolCall,
    ToolResult,
)
from callplane.runtime.http import HttpActionError, HttpCaller
from callplane.runtime.prompt import ConversationContext

logger = logging.getLogger("callplane.runtime")

OFFLINE_MODEL = "offline"
TOOL_RESULT_MAX_CHARS = 16_000
ENDING_ACTIONS = {
    "hangup": "hangup",
    "cold_transfer": "cold_transfer",
    "warm_transfer": "warm_transfer",
}


class Retriever(Protocol):
    """Knowledge search: the best passages of these collections for a query, best first."""

    async def search(
        self, collection_ids: Sequence[UUID], query: str, *, limit: int
    ) -> Sequence[Passage]: ...


class WorkflowStarter(Protocol):
    """Starts a durable workflow calling `target` with `payload`; returns its workflow id."""

    async def start(
        self, workflow_id: str, target: WorkflowTarget, payload: dict[str, Any]
    ) -> str: ...


@dataclass
class TurnDeps:
    """What a turn runs with. `model` None means the offline responder; `tool_mocks` (agent
    tests) answers a tool's `http_request` actions by tool name: `{"status", "body"}`."""

    model: ChatModel | None
    http: HttpCaller
    retriever: Retriever | None = None
    workflows: WorkflowStarter | None = None
    tool_mocks: Mapping[str, Mapping[str, Any]] | None = None


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class _Outcome:
    content: str
    is_error: bool = False


@dataclass
class Turn:
    context: ConversationContext
    deps: TurnDeps
    entries: list[dict[str, Any]] = field(default_factory=list)
    ended_reason: str | None = None
    failed: bool = False
    _text: list[str] = field(default_factory=list)
    _calls: list[dict[str, Any]] = field(default_factory=list)
    _prompt_tokens: int = 0
    _break_before_text: bool = False
    _completion_tokens: int = 0

    @property
    def config(self) -> AgentConfig:
        return self.context.config

    @property
    def model_name(self) -> str:
        if self.deps.model is None:
            return OFFLINE_MODEL
        return self.config.llm.model

    async def run(self, content: str) -> AsyncIterator[Event]:
        self.entries.append({"role": "user", "content": content, "at": now_iso()})
        phrase = _end_phrase(content, self.config.end_call.end_phrases)
        if phrase is not None:
            yield self._action(Action("end_phrase", {"phrase": phrase}))
            self.ended_reason = "end_phrase"
            yield self._done([])
            return
        passages = await self._retrieve(content)
        if passages:
            yield Knowledge(tuple(passages))
        if self.deps.model is None:
            for piece in offline.answer(content, passages, prompt.starting_message(self.context)):
                self._text.append(piece)
                yield Delta(piece)
            yield self._done(passages)
            return
        async for event in self._converse(content, passages):
            yield event
        yield self._done(passages)

    # --- the model loop ---------------------------------------------------------------------

    async def _converse(self, content: str, passages: list[Passage]) -> AsyncIterator[Event]:
        assert self.deps.model is not None
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompt.system_prompt(self.context)}
        ]
        messages += prompt.history_messages(self.context.history)
        if passages:
            messages.append(prompt.knowledge_message(passages))
        messages.append({"role": "user", "content": content})
        tools = {tool.name: tool for tool in self.config.tools}
        schemas = [prompt.tool_schema(tool) for tool in self.config.tools]
        budget = self.context.max_tool_steps()
        steps = 0
        while True:
            offer_tools = bool(schemas) and steps < budget
            round_text: list[str] = []
            calls: list[ToolCallRequest] = []
            try:
                async for item in self.deps.model.stream_chat(
                    messages,
                    tools=schemas if offer_tools else None,
                    model=self.config.llm.model,
                    temperature=self.config.llm.temperature,
                    max_tokens=self.config.llm.max_tokens,
                ):
                    if isinstance(item, TextDelta):
                        text = item.text
                        if self._break_before_text:  # after a played message
                            self._break_before_text = False
                            text = f"\n\n{text}"
                        round_text.append(item.text)
                        self._text.append(text)
                        yield Delta(text)
                    elif isinstance(item, ToolCallRequest):
                        calls.append(item)
                    elif isinstance(item, Usage):
                        self._prompt_tokens += item.prompt_tokens
                        self._completion_tokens += item.completion_tokens
            except LLMError as error:
                logger.warning("conversation model call failed", extra={"error_code": error.code})
                yield self._error(error.code, error.message)
                return
            if not calls:
                return
            if not offer_tools:
                yield self._error(
                    "max_tool_steps_exceeded",
                    f"The model kept calling tools after its budget of {budget} tool steps "
                    "for this turn was spent.",
                )
                return
            text = "".join(round_text)
            recorded = [
                {"id": call.id, "name": call.name, "arguments": _parsed(call.arguments)}
                for call in calls
            ]
            self._calls += recorded
            self.entries.append(
                {"role": "agent", "content": text, "tool_calls": recorded, "at": now_iso()}
            )
            messages.append(
                {
                    "role": "assistant",
                    "content": text or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": call.arguments},
                        }
                        for call in calls
                    ],
                }
            )
            for call, shown in zip(calls, recorded, strict=True):
                yield ToolCall(call.id, call.name, shown["arguments"])
                if steps >= budget:
                    outcome = _Outcome(
                        f"Not run: the budget of {budget} tool steps for this turn is spent. "
                        "Answer the user without tools.",
                        is_error=True,
                    )
                else:
                    steps += 1
                    outcome = _Outcome("")
                    async for event in self._run_tool(tools.get(call.name), call, outcome):
                        yield event
                result = ToolResult(
                    call.id, call.name, outcome.content[:TOOL_RESULT_MAX_CHARS], outcome.is_error
                )
                self.entries.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "name": call.name,
                        "content": result.content,
                        "is_error": result.is_error,
                        "at": now_iso(),
                    }
                )
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": result.content}
                )
                yield result
            if self.ended_reason is not None:
                return

    # --- tools and actions ------------------------------------------------------------------

    async def _run_tool(
        self, tool: Tool | None, call: ToolCallRequest, outcome: _Outcome
    ) -> AsyncIterator[Event]:
        if tool is None:
            outcome.content, outcome.is_error = f"Unknown tool {call.name!r}.", True
            return
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as error:
            outcome.content = (
                f"The arguments are not valid JSON ({error}); call the tool again with a JSON "
                "object."
            )
            outcome.is_error = True
            return
        problem = _invalid_arguments(tool, arguments)
        if problem is not None:
            outcome.content, outcome.is_error = f"Invalid arguments: {problem}", True
            return
        data: dict[str, Any] = {**self.context.values(), **arguments}
        try:
            for action in tool.actions:
                async for event in self._run_action(tool, call, action, data):
                    yield event
        except ActionFailed as failure:
            data["error"] = failure.message
            for action in tool.actions_on_error:
                try:
                    async for event in self._run_action(tool, call, action, data):
                        yield event
                except ActionFailed as again:
                    failure = ActionFailed(f"{failure.message}; then {again.message}")
                    break
            outcome.content, outcome.is_error = failure.message, True
            return
        outcome.content = self._output(tool, data, arguments)

    def _output(self, tool: Tool, data: dict[str, Any], arguments: dict[str, Any]) -> str:
        if tool.output is not None:
            try:
                return templates.render(tool.output, data)
            except templates.UnknownName as error:
                return str(error)
        shown = {
            key: value for key, value in data.items() if key in arguments or key in _RESULT_KEYS
        }
        return json.dumps(shown or {"ok": True}, ensure_ascii=False, default=str)

    async def _run_action(
        self, tool: Tool, call: ToolCallRequest, action: Any, data: dict[str, Any]
    ) -> AsyncIterator[Event]:
        if action.condition is not None and not _condition_holds(action.condition, data):
            return
        kind = action.type
        if kind == "play_message":
            message = _render(action.message, data)
            yield self._action(Action("play_message", {"message": message}))
            piece = message if not self._text else f"\n\n{message}"
            self._text.append(piece)
            self._break_before_text = True
            yield Delta(piece)
        elif kind in ENDING_ACTIONS:
            details: dict[str, Any] = {}
            if kind != "hangup":
                details = {"phone_number": action.phone_number, "sip_uri": action.sip_uri}
            if kind == "warm_transfer":
                details["summary_prompt"] = action.summary_prompt
                details["ring_timeout_seconds"] = action.ring_timeout_seconds
            yield self._action(Action(kind, details))
            self.ended_reason = ENDING_ACTIONS[kind]
            data["action"] = kind
        elif kind == "dtmf":
            yield self._action(Action("dtmf", {"digits": action.digits}))
            data["action"] = "dtmf"
        elif kind == "http_request":
            data["response"] = await self._http(tool, action, data)
        elif kind == "knowledge_base":
            passages = await self._search_action(action, data)
            if passages:
                yield Knowledge(tuple(passages))
            data["passages"] = [{"title": p.title, "url": p.url, "text": p.text} for p in passages]
        elif kind == "workflow":
            data["workflow"] = await self._workflow(call, action, data)
        else:  # pragma: no cover - the config's union is closed
            raise ActionFailed(f"Unsupported action {kind!r}.")

    async def _http(self, tool: Tool, action: HttpRequestAction, data: dict[str, Any]) -> Any:
        url = _render(action.url, data, url=True)
        headers = {name: _render(value, data) for name, value in action.headers.items()}
        body: bytes | None = None
        if isinstance(action.body, dict):
            body = json.dumps(_render_json(action.body, data)).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(action.body, str):
            body = _render(action.body, data).encode()
        mock = (self.deps.tool_mocks or {}).get(tool.name)
        if mock is not None:
            status, answer = int(mock.get("status", 200)), mock.get("body")
        else:
            try:
                result = await self.deps.http.request(
                    action.method,
                    url,
                    headers=headers,
                    body=body,
                    timeout_seconds=float(action.timeout_seconds),
                )
            except HttpActionError as error:
                raise ActionFailed(f"HTTP request failed ({error.code}): {error.message}") from None
            status, answer = result.status, result.body
        if status >= 400:
            raise ActionFailed(f"HTTP request answered {status}: {str(answer)[:500]}")
        return answer

    async def _search_action(
        self, action: KnowledgeBaseAction, data: dict[str, Any]
    ) -> list[Passage]:
        if self.deps.retriever is None:
            raise ActionFailed("Knowledge search is not available here.")
        if action.query is not None:
            query = _render(action.query, data)
        else:
            query = " ".join(
                str(value)
                for key, value in data.items()
                if "." not in key and isinstance(value, str | int | float)
            )
        return list(
            await self.deps.retriever.search([action.collection_id], query, limit=action.top_n)
        )

    async def _workflow(
        self, call: ToolCallRequest, action: WorkflowAction, data: dict[str, Any]
    ) -> Any:
        if self.deps.workflows is None:
            raise ActionFailed("Workflows are not running in this process.")
        if action.workflow_id is not None:
            raise ActionFailed("Published workflows by id are not supported yet; use `url`.")
        workflow_id = f"conversation-{self.context.conversation_id}-{call.id}-{len(self._calls)}"
        payload = {
            "conversation_id": self.context.conversation_id,
            "agent_id": self.context.agent_id,
            "tool": call.name,
            "data": {key: value for key, value in data.items() if "." not in key},
        }
        started = await self.deps.workflows.start(workflow_id, action, payload)
        return {"id": started, "status": "started"}

    # --- knowledge, endings -----------------------------------------------------------------

    async def _retrieve(self, content: str) -> list[Passage]:
        attached = self.config.knowledge_bases
        if not attached or self.deps.retriever is None or not content.strip():
            return []
        found: list[Passage] = []
        for attachment in attached:
            found += await self.deps.retriever.search(
                [attachment.collection_id], content, limit=attachment.top_n
            )
        found.sort(key=lambda passage: passage.score, reverse=True)
        return found

    def _action(self, action: Action) -> Action:
        self.entries.append(
            {
                "role": "system",
                "content": _describe(action),
                "event": action.data(),
                "at": now_iso(),
            }
        )
        return action

    def _error(self, code: str, message: str) -> Error:
        self.failed = True
        self.entries.append(
            {
                "role": "system",
                "content": message,
                "event": {"type": "error", "code": code, "message": message},
                "at": now_iso(),
            }
        )
        return Error(code, message)

    def _done(self, passages: Sequence[Passage]) -> Done:
        content = "".join(self._text)
        citations = tuple(passage.citation() for passage in passages)
        if content or citations:
            self.entries.append(
                {
                    "role": "agent",
                    "content": content,
                    "citations": list(citations),
                    "model": self.model_name,
                    "at": now_iso(),
                }
            )
        return Done(
            content=content,
            citations=citations,
            tool_calls=tuple(self._calls),
            ended=self.ended_reason is not None,
            ended_reason=self.ended_reason,
            prompt_tokens=self._prompt_tokens,
            completion_tokens=self._completion_tokens,
            model=self.model_name,
        )


class ActionFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_RESULT_KEYS = ("response", "passages", "workflow", "action")


def _render(text: str, data: Mapping[str, Any], *, url: bool = False) -> str:
    try:
        return templates.render(text, data, url=url)
    except templates.UnknownName as error:
        raise ActionFailed(str(error)) from None


def _render_json(body: Any, data: Mapping[str, Any]) -> Any:
    try:
        return templates.render_json(body, data)
    except templates.UnknownName as error:
        raise ActionFailed(str(error)) from None


def _parsed(arguments: str) -> dict[str, Any] | str:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return arguments
    return value if isinstance(value, dict) else arguments


def _invalid_arguments(tool: Tool, arguments: Any) -> str | None:
    schema = prompt.parameters_schema(tool)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda error: list(error.path))
    if not errors:
        return None
    return "; ".join(
        f"{'/'.join(str(p) for p in error.path) or '(arguments)'}: {error.message}"
        for error in errors[:5]
    )


_CONDITION = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*(?:(==|!=)\s*(.+?))?\s*$")


def _condition_holds(condition: str, data: Mapping[str, Any]) -> bool:
    """The supported conditions: `name` (truthy), `name == value`, `name != value` (value a JSON
    literal or a bare word). Anything else fails the action, loudly."""
    match = _CONDITION.match(condition)
    if match is None:
        raise ActionFailed(f"Unsupported condition {condition!r}.")
    name, operator, literal = match.groups()
    value = templates.lookup(data, name)
    if value is templates._MISSING:
        value = None
    if operator is None:
        return bool(value)
    try:
        expected = json.loads(literal)
    except ValueError:
        expected = literal.strip("'\"")
    equal = value == expected or (value is not None and str(value) == str(expected))
    return equal if operator == "==" else not equal


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def _end_phrase(content: str, phrases: Sequence[str]) -> str | None:
    said = f" {_normal(content)} "
    for phrase in phrases:
        wanted = _normal(phrase)
        if wanted and f" {wanted} " in said:
            return phrase
    return None


def _describe(action: Action) -> str:
    data = action.data()
    if action.type == "end_phrase":
        return f"The user said an end phrase ({data['phrase']!r}); the conversation ended."
    if action.type == "hangup":
        return "The agent ended the conversation."
    if action.type in ("cold_transfer", "warm_transfer"):
        target = data.get("phone_number") or data.get("sip_uri")
        return (
            f"The agent transferred the conversation ({action.type.replace('_', ' ')}) to {target}."
        )
    if action.type == "dtmf":
        return f"The agent sent DTMF digits {data['digits']}."
    return f"The agent played a message: {data.get('message', '')}"

"""Running one agent test: drive the conversation engine (the same `Turn` live conversations
use, with the test's tool mocks) with scripted or simulated user turns, then check each
expectation against what happened.

Test conversations are not stored as conversations: analytics and agent stats stay about real
traffic. The simulated caller and the judge are played by the configured LLM
(CALLPLANE_LLM_BASE_URL); without one, a simulated test and a judge expectation are `skipped`
with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from callplane.agent_config import AgentConfig
from callplane.agenttests.schemas import AgentTestDefinition
from callplane.config import Settings
from callplane.conversations.live import LiveRuntime
from callplane.db.engine import Database
from callplane.llm import LLMError, OpenAICompatibleProvider
from callplane.llm.provider import Message
from callplane.runtime import prompt
from callplane.runtime.engine import Turn, TurnDeps
from callplane.runtime.events import Action, Delta, Done, Error, ToolCall
from callplane.runtime.prompt import ConversationContext

logger = logging.getLogger("callplane.agenttests")

NO_MODEL = "needs a language model (CALLPLANE_LLM_BASE_URL)"
CALLER_DONE = "[END]"
SEEN_CHARS = 500
JUDGE_MAX_TOKENS = 500
CALLER_MAX_TOKENS = 300

# The LiveRuntime factory, installed by the wiring (`use_live_runtime`); tests may pin one.
_factory: Callable[[Settings], LiveRuntime] | None = None
_pinned: LiveRuntime | None = None
_built: dict[int, LiveRuntime] = {}


def use_live_runtime(factory: Callable[[Settings], LiveRuntime]) -> None:
    global _factory
    _factory = factory


def pin_live_runtime(runtime: LiveRuntime | None) -> None:
    """Tests: run the agent with this runtime (e.g. the app's, whose model is a local stub)."""
    global _pinned
    _pinned = runtime


def live_runtime(settings: Settings) -> LiveRuntime:
    if _pinned is not None:
        return _pinned
    if _factory is None:
        raise RuntimeError("no live runtime factory installed (callplane.wiring.install)")
    key = id(settings)
    if key not in _built:
        _built[key] = _factory(settings)
    return _built[key]


def _model(settings: Settings) -> OpenAICompatibleProvider | None:
    if not settings.llm_base_url:
        return None
    return OpenAICompatibleProvider(
        settings.llm_base_url,
        settings.llm_api_key or "none",
        settings.llm_model,
        timeout_seconds=settings.llm_timeout_seconds,
        max_retries=1,
    )


def _short(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= SEEN_CHARS else text[:SEEN_CHARS] + "…"


# --- the conversation --------------------------------------------------------------------------


class Conversation:
    """What the test's conversation did, turn by turn."""

    def __init__(self, starting_message: str | None):
        self.starting_message = starting_message
        self.turns: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.ended = False
        self.ended_reason: str | None = None
        self.actions: list[dict[str, Any]] = []
        if starting_message:
            self.history.append({"role": "agent", "content": starting_message})

    def replies(self, turn: int | None) -> list[tuple[int, str]]:
        """(turn, reply) pairs: one turn's, or all (the starting message as turn 0)."""
        if turn is not None:
            return [(turn, self.turns[turn - 1]["reply"])] if turn <= len(self.turns) else []
        pairs = [(0, self.starting_message)] if self.starting_message else []
        return pairs + [(i, t["reply"]) for i, t in enumerate(self.turns, 1)]

    def tool_calls(self, turn: int | None) -> list[dict[str, Any]]:
        chosen = self.turns if turn is None else self.turns[turn - 1 : turn]
        return [call for t in chosen for call in t["tool_calls"]]

    def transcript(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        if self.starting_message:
            entries.append({"role": "agent", "content": self.starting_message})
        for number, turn in enumerate(self.turns, 1):
            entries.append({"role": "user", "content": turn["user"], "turn": number})
            for call in turn["tool_calls"]:
                entries.append({"role": "tool_call", "turn": number, **call})
            for result in turn["tool_results"]:
                entries.append({"role": "tool", "turn": number, **result})
            for action in turn["actions"]:
                entries.append({"role": "action", "turn": number, **action})
            for error in turn["errors"]:
                entries.append({"role": "error", "turn": number, **error})
            entries.append({"role": "agent", "content": turn["reply"], "turn": number})
        return entries


async def _say(
    conversation: Conversation, context: ConversationContext, deps: TurnDeps, content: str
) -> None:
    turn = Turn(dataclasses.replace(context, history=list(conversation.history)), deps)
    record: dict[str, Any] = {
        "user": content,
        "reply": "",
        "tool_calls": [],
        "tool_results": [],
        "actions": [],
        "errors": [],
    }
    text: list[str] = []
    async for event in turn.run(content):
        if isinstance(event, Delta):
            text.append(event.text)
        elif isinstance(event, ToolCall):
            record["tool_calls"].append({"name": event.name, "arguments": event.arguments})
        elif isinstance(event, Action):
            record["actions"].append(event.data())
            conversation.actions.append(event.data())
        elif isinstance(event, Error):
            record["errors"].append(event.data())
        elif isinstance(event, Done):
            record["reply"] = event.content or "".join(text)
            if event.ended:
                conversation.ended = True
                conversation.ended_reason = event.ended_reason
        elif event.event == "tool_result":
            data = event.data()
            record["tool_results"].append(
                {
                    "name": data["name"],
                    "content": _short(data["content"]),
                    "is_error": data["is_error"],
                }
            )
    conversation.turns.append(record)
    conversation.history.extend(turn.entries)


async def _caller_says(
    model: OpenAICompatibleProvider, definition: AgentTestDefinition, conversation: Conversation
) -> str | None:
    """The simulated caller's next message, or None when it is done."""
    caller = definition.caller
    assert caller is not None
    system = (
        "You are role-playing a person contacting a company's AI agent, to test that agent. "
        f"Who you are: {caller.persona}\nWhat you want: {caller.goal}\n"
        "Write only your next message to the agent, short and natural, in the first person. "
        "When your goal is reached or the conversation is clearly over, write exactly "
        f"{CALLER_DONE}."
    )
    messages: list[Message] = [{"role": "system", "content": system}]
    for entry in conversation.history:
        if entry.get("role") == "agent" and entry.get("content"):
            messages.append({"role": "user", "content": str(entry["content"])})
        elif entry.get("role") == "user":
            messages.append({"role": "assistant", "content": str(entry["content"])})
    if len(messages) == 1:
        messages.append({"role": "user", "content": "(The agent is waiting for you to speak.)"})
    said = (await model.complete(messages, max_tokens=CALLER_MAX_TOKENS, temperature=0.7)).strip()
    if not said or CALLER_DONE in said:
        return None
    return said[:4000]


# --- expectations ------------------------------------------------------------------------------


def _verdict(
    index: int, expectation: dict[str, Any], status: str, reason: str, seen: Any = None
) -> dict[str, Any]:
    return {
        "index": index,
        "type": expectation["type"],
        "expectation": expectation,
        "status": status,
        "reason": reason,
        "seen": seen,
    }


def _contains(reply: str, text: str, case_sensitive: bool) -> bool:
    return text in reply if case_sensitive else text.casefold() in reply.casefold()


def _subset(expected: Mapping[str, Any], actual: Any) -> bool:
    return isinstance(actual, dict) and all(
        key in actual and actual[key] == value for key, value in expected.items()
    )


def _where(turn: int | None) -> str:
    return f"in the reply to turn {turn}" if turn is not None else "in any reply"


def check(
    index: int, expectation: dict[str, Any], conversation: Conversation
) -> dict[str, Any] | None:
    """The verdict on one expectation, or None for `judge` (checked by the model)."""
    kind = expectation["type"]
    turn = expectation.get("turn")
    if turn is not None and turn > len(conversation.turns):
        return _verdict(
            index,
            expectation,
            "failed",
            f"the conversation had {len(conversation.turns)} turn(s); turn {turn} never happened",
        )
    replies = conversation.replies(turn)
    if kind in ("reply_contains", "reply_not_contains"):
        text, case = expectation["text"], expectation.get("case_sensitive", False)
        hits = [(n, r) for n, r in replies if _contains(r, text, case)]
        if kind == "reply_contains":
            if hits:
                return _verdict(
                    index, expectation, "passed", f"found {_where(turn)}", _short(hits[0][1])
                )
            return _verdict(
                index,
                expectation,
                "failed",
                f"{text!r} not found {_where(turn)}",
                [_short(r) for _, r in replies],
            )
        if hits:
            return _verdict(
                index,
                expectation,
                "failed",
                f"{text!r} found in the reply to turn {hits[0][0]}",
                _short(hits[0][1]),
            )
        return _verdict(index, expectation, "passed", f"not found {_where(turn)}")
    if kind == "reply_matches":
        pattern = re.compile(expectation["pattern"])
        for number, reply in replies:
            match = pattern.search(reply)
            if match:
                return _verdict(
                    index,
                    expectation,
                    "passed",
                    f"matched in the reply to turn {number}",
                    match.group(0)[:SEEN_CHARS],
                )
        return _verdict(
            index,
            expectation,
            "failed",
            f"no match {_where(turn)}",
            [_short(r) for _, r in replies],
        )
    if kind in ("calls_tool", "does_not_call_tool"):
        calls = conversation.tool_calls(turn)
        named = [c for c in calls if c["name"] == expectation["name"]]
        if kind == "does_not_call_tool":
            if named:
                return _verdict(
                    index, expectation, "failed", f"{expectation['name']} was called", named
                )
            return _verdict(index, expectation, "passed", f"{expectation['name']} was not called")
        wanted = expectation.get("arguments") or {}
        matching = [c for c in named if _subset(wanted, c["arguments"])]
        if matching:
            return _verdict(index, expectation, "passed", "called", matching[0])
        reason = (
            f"{expectation['name']} was never called {_where(turn).replace('reply', 'turn')}"
            if not named
            else f"{expectation['name']} was called, never with arguments containing {wanted}"
        )
        return _verdict(index, expectation, "failed", reason, calls)
    if kind == "ends_with":
        seen = {
            "ended": conversation.ended,
            "ended_reason": conversation.ended_reason,
            "actions": conversation.actions,
        }
        if expectation["action"] == "hangup":
            ok = conversation.ended and conversation.ended_reason == "hangup"
            return _verdict(
                index,
                expectation,
                "passed" if ok else "failed",
                "ended with a hangup" if ok else "did not end with a hangup",
                seen,
            )
        transfers = [
            a for a in conversation.actions if a["type"] in ("cold_transfer", "warm_transfer")
        ]
        target = expectation.get("target")
        if target is not None:
            transfers = [
                a for a in transfers if target in (a.get("phone_number"), a.get("sip_uri"))
            ]
        ok = bool(transfers)
        reason = "transferred" if ok else (f"no transfer to {target}" if target else "no transfer")
        return _verdict(index, expectation, "passed" if ok else "failed", reason, seen)
    if kind == "max_turns":
        used = len(conversation.turns)
        ok = used <= expectation["turns"]
        return _verdict(
            index,
            expectation,
            "passed" if ok else "failed",
            f"{used} turn(s) (at most {expectation['turns']})",
            used,
        )
    return None


async def judge(
    model: OpenAICompatibleProvider,
    index: int,
    expectation: dict[str, Any],
    conversation: Conversation,
) -> dict[str, Any]:
    lines = [f"{e['role']}: {e.get('content') or json.dumps(e)}" for e in conversation.transcript()]
    messages: list[Message] = [
        {
            "role": "system",
            "content": "You grade a conversation between an AI agent and a user against a "
            "rubric. Answer with one JSON object and nothing else: "
            '{"passed": true or false, "score": a number from 0 to 1, "reasoning": "why"}.',
        },
        {
            "role": "user",
            "content": f"Rubric: {expectation['rubric']}\n\nConversation:\n" + "\n".join(lines),
        },
    ]
    try:
        answer = await model.complete(messages, max_tokens=JUDGE_MAX_TOKENS, temperature=0.0)
    except LLMError as error:
        return _verdict(index, expectation, "failed", f"the judge failed: {error.message}")
    match = re.search(r"\{.*\}", answer, re.S)
    try:
        data = json.loads(match.group(0)) if match else None
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("passed"), bool):
        return _verdict(
            index, expectation, "failed", "the judge's answer was not a verdict", _short(answer)
        )
    reasoning = str(data.get("reasoning") or "")[:2000]
    return _verdict(
        index,
        expectation,
        "passed" if data["passed"] else "failed",
        reasoning or ("the judge passed it" if data["passed"] else "the judge failed it"),
        {"score": data.get("score"), "reasoning": reasoning},
    )


# --- one test ------------------------------------------------------------------------------------


async def run_test(
    database: Database,
    settings: Settings,
    organization_id: uuid.UUID,
    agent_id: uuid.UUID,
    config: dict[str, Any],
    definition: dict[str, Any],
) -> dict[str, Any]:
    """Run one test; returns {status, reason, expectations, transcript, duration_seconds}."""
    started = time.monotonic()
    test = AgentTestDefinition.model_validate(definition)
    model = _model(settings)
    outcome: dict[str, Any] = {
        "status": "passed",
        "reason": None,
        "expectations": [],
        "transcript": [],
    }
    if test.caller is not None and model is None:
        outcome.update(status="skipped", reason=f"a simulated caller {NO_MODEL}")
        outcome["expectations"] = [
            _verdict(i, e.model_dump(mode="json"), "skipped", f"the test {NO_MODEL}")
            for i, e in enumerate(test.expectations)
        ]
        outcome["duration_seconds"] = time.monotonic() - started
        return outcome
    runtime = live_runtime(settings)
    context = ConversationContext(
        conversation_id=f"test-{uuid.uuid4()}",
        agent_id=str(agent_id),
        channel=test.channel,
        config=AgentConfig.model_validate(config),
        variables=dict(test.variables),
    )
    deps = TurnDeps(
        model=runtime.model,
        http=runtime.http,
        retriever=runtime.retriever(database, organization_id) if runtime.retriever else None,
        workflows=runtime.workflows,
        tool_mocks={name: mock.model_dump(mode="json") for name, mock in test.tool_mocks.items()},
    )
    conversation = Conversation(prompt.starting_message(context))
    try:
        if test.turns is not None:
            for content in test.turns:
                if conversation.ended:
                    break
                await _say(conversation, context, deps, content)
        else:
            assert test.caller is not None and model is not None
            for _ in range(test.caller.max_turns):
                said = await _caller_says(model, test, conversation)
                if said is None:
                    break
                await _say(conversation, context, deps, said)
                if conversation.ended:
                    break
        verdicts = []
        for index, expectation in enumerate(test.expectations):
            data = expectation.model_dump(mode="json")
            verdict = check(index, data, conversation)
            if verdict is None:  # judge
                verdict = (
                    _verdict(index, data, "skipped", f"the judge {NO_MODEL}")
                    if model is None
                    else await judge(model, index, data, conversation)
                )
            verdicts.append(verdict)
    except Exception as error:
        logger.exception("an agent test raised")
        outcome.update(status="error", reason=f"the conversation failed: {error}")
        outcome["transcript"] = conversation.transcript()
        outcome["duration_seconds"] = time.monotonic() - started
        return outcome
    finally:
        if model is not None:
            await model.aclose()
    failed = [v for v in verdicts if v["status"] == "failed"]
    if failed:
        outcome.update(
            status="failed",
            reason=f"expectation {failed[0]['index']} ({failed[0]['type']}): {failed[0]['reason']}",
        )
    elif all(v["status"] == "skipped" for v in verdicts):
        outcome.update(status="skipped", reason=verdicts[0]["reason"] if verdicts else None)
    outcome["expectations"] = verdicts
    outcome["transcript"] = conversation.transcript()
    outcome["duration_seconds"] = time.monotonic() - started
    return outcome

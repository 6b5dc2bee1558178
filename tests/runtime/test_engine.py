"""The engine without a database or HTTP server: knowledge passages in the prompt and cited,
the offline responder, templates, workflow actions, conditions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from callplane.agent_config.schemas import AgentConfig, WorkflowTarget
from callplane.llm.provider import ChatItem, TextDelta, ToolCallRequest, Usage
from callplane.runtime import (
    ConversationContext,
    Done,
    HttpResult,
    Knowledge,
    Passage,
    ToolResult,
    Turn,
    TurnDeps,
    templates,
)
from callplane.runtime.prompt import unknown_names

KB = uuid.uuid4()


class MemoryRetriever:
    """Scores passages by how many query words they contain."""

    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.queries: list[tuple[list[uuid.UUID], str, int]] = []

    async def search(
        self, collection_ids: Sequence[uuid.UUID], query: str, *, limit: int
    ) -> Sequence[Passage]:
        self.queries.append((list(collection_ids), query, limit))
        words = set(query.lower().split())
        scored = []
        for passage in self.passages:
            if uuid.UUID(passage.collection_id) not in collection_ids:
                continue
            score = sum(word.strip("?.,") in passage.text.lower() for word in words)
            if score:
                scored.append(
                    Passage(**{**passage.__dict__, "score": float(score)})  # type: ignore[arg-type]
                )
        return sorted(scored, key=lambda p: p.score, reverse=True)[:limit]


def passage(text: str, title: str, url: str | None = None) -> Passage:
    return Passage(
        chunk_id=str(uuid.uuid4()),
        document_id=str(uuid.uuid4()),
        collection_id=str(KB),
        title=title,
        url=url,
        text=text,
        score=0.0,
    )


class ScriptedModel:
    """A ChatModel answering from a list of rounds; records what it was asked."""

    def __init__(self, rounds: list[list[ChatItem]]) -> None:
        self.rounds = rounds
        self.calls: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        return "scripted"

    async def stream_chat(
        self,
        messages: Sequence[dict[str, Any]],
        *,
        tools: Sequence[dict[str, Any]] | None,
        model: str | None,
        temperature: float,
        max_tokens: int | None,
    ) -> AsyncIterator[ChatItem]:
        self.calls.append({"messages": list(messages), "tools": tools, "model": model})
        for item in self.rounds.pop(0):
            yield item


class NoHttp:
    async def request(self, *args: Any, **kwargs: Any) -> HttpResult:
        raise AssertionError("no HTTP expected")


class Workflows:
    def __init__(self) -> None:
        self.started: list[tuple[str, WorkflowTarget, dict[str, Any]]] = []

    async def start(self, workflow_id: str, target: WorkflowTarget, payload: dict[str, Any]) -> str:
        self.started.append((workflow_id, target, payload))
        return workflow_id


def context(config: dict[str, Any], **kwargs: Any) -> ConversationContext:
    return ConversationContext(
        conversation_id="conv-1",
        agent_id="agent-1",
        channel=kwargs.pop("channel", "text"),
        config=AgentConfig.model_validate(config),
        **kwargs,
    )


async def run(turn: Turn, content: str) -> list[Any]:
    return [event async for event in turn.run(content)]


KNOWLEDGE = [
    passage("Cleanings cost 90 dollars and take an hour.", "Prices", "https://acme.test/prices"),
    passage("We are open Monday to Friday, nine to five.", "Hours", None),
]


async def test_passages_go_into_the_prompt_and_are_cited() -> None:
    retriever = MemoryRetriever(KNOWLEDGE)
    model = ScriptedModel([[TextDelta("90 dollars."), Usage(5, 2)]])
    config = {
        "instructions": "Dental bot.",
        "knowledge_bases": [{"collection_id": str(KB), "top_n": 3}],
    }
    turn = Turn(context(config), TurnDeps(model=model, http=NoHttp(), retriever=retriever))
    events = await run(turn, "How much do cleanings cost?")
    assert isinstance(events[0], Knowledge)
    assert [p.title for p in events[0].passages] == ["Prices"]
    assert retriever.queries == [([KB], "How much do cleanings cost?", 3)]
    knowledge = model.calls[0]["messages"][-2]
    assert knowledge["role"] == "system"
    assert "[1] Prices — https://acme.test/prices" in knowledge["content"]
    assert "90 dollars" in knowledge["content"]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.citations == (events[0].passages[0].citation(),)
    assert done.citations[0]["chunk_id"] == KNOWLEDGE[0].chunk_id
    assert "text" not in done.citations[0]
    assert turn.entries[-1]["citations"][0]["url"] == "https://acme.test/prices"


async def test_the_offline_responder_quotes_passages_and_says_what_it_is() -> None:
    retriever = MemoryRetriever(KNOWLEDGE)
    config = {
        "instructions": "Dental bot.",
        "starting_message": "Hello from Acme.",
        "knowledge_bases": [{"collection_id": str(KB)}],
        "tools": [{"name": "t", "description": "d", "actions": [{"type": "hangup"}]}],
    }
    turn = Turn(context(config), TurnDeps(model=None, http=NoHttp(), retriever=retriever))
    events = await run(turn, "When are you open on Monday?")
    done = events[-1]
    assert isinstance(done, Done) and done.model == "offline"
    assert done.content.startswith("[Offline responder: no language model is configured")
    assert "Monday to Friday" in done.content and "(Source: Hours)" in done.content
    assert done.citations and done.tool_calls == () and not done.ended
    nothing = await run(
        Turn(context(config), TurnDeps(model=None, http=NoHttp(), retriever=retriever)),
        "Parking?",
    )
    assert "found nothing" in nothing[-1].content and "Hello from Acme." in nothing[-1].content


async def test_knowledge_base_action_and_workflow_action() -> None:
    retriever = MemoryRetriever(KNOWLEDGE)
    workflows = Workflows()
    tools = [
        {
            "name": "lookup",
            "description": "Search the docs.",
            "properties": {"topic": {"type": "string"}},
            "required": ["topic"],
            "actions": [
                {"type": "knowledge_base", "collection_id": str(KB), "query": "{{topic}} cost"}
            ],
            "output": "{{passages.0.text}}",
        },
        {
            "name": "book",
            "description": "Book a visit.",
            "properties": {"day": {"type": "string", "enum": ["mon", "tue"]}},
            "required": ["day"],
            "actions": [
                {"type": "workflow", "url": "https://crm.test/book"},
                {
                    "type": "play_message",
                    "message": "Booked for {{day}}.",
                    "condition": "day == mon",
                },
                {"type": "play_message", "message": "Never said.", "condition": "day != mon"},
            ],
        },
    ]
    model = ScriptedModel(
        [
            [ToolCallRequest("k1", "lookup", '{"topic": "cleanings"}')],
            [ToolCallRequest("w1", "book", '{"day": "mon"}')],
            [TextDelta("All set.")],
        ]
    )
    turn = Turn(
        context({"instructions": "x", "tools": tools}, variables={"name": "Ann"}),
        TurnDeps(model=model, http=NoHttp(), retriever=retriever, workflows=workflows),
    )
    events = await run(turn, "Book me")
    results = [e for e in events if isinstance(e, ToolResult)]
    assert results[0].content == "Cleanings cost 90 dollars and take an hour."
    assert not results[1].is_error
    assert retriever.queries[-1] == ([KB], "cleanings cost", 5)
    [(workflow_id, target, payload)] = workflows.started
    assert workflow_id.startswith("conversation-conv-1-w1")
    assert target.url == "https://crm.test/book"
    assert payload["data"]["day"] == "mon" and payload["data"]["name"] == "Ann"
    assert events[-1].content == "Booked for mon.\n\nAll set."


def test_templates() -> None:
    values = {"city": "São Paulo", "n": 3, "response": {"temp": [1, 2]}, "conversation.id": "c"}
    assert templates.render("{{ city }}/{{conversation.id}}", values) == "São Paulo/c"
    assert templates.render("q={{city}}", values, url=True) == "q=S%C3%A3o%20Paulo"
    assert templates.render("{{response.temp.1}}", values) == "2"
    assert templates.render_json({"n": "{{n}}", "s": "n={{n}}", "l": ["{{city}}"]}, values) == {
        "n": 3,
        "s": "n=3",
        "l": ["São Paulo"],
    }
    with pytest.raises(templates.UnknownName) as raised:
        templates.render("{{nope}} {{city}} {{also.nope}}", values)
    assert raised.value.names == ["nope", "also.nope"]


def test_unknown_names_and_channel_overrides() -> None:
    config = {
        "instructions": "Base {{a}}.",
        "starting_message": "Hi {{caller.phone_number}}",
        "channel_overrides": {
            "telephone": {
                "instructions": "Phone only.",
                "instructions_mode": "replace",
                "starting_message": "Hello caller.",
            }
        },
    }
    assert unknown_names(context(config)) == ["a", "caller.phone_number"]
    assert unknown_names(context(config, variables={"a": "1"}, caller="+1415")) == []
    phone = context(config, channel="telephone")
    assert unknown_names(phone) == []  # the replaced instructions have no placeholders
    from callplane.runtime.prompt import starting_message, system_prompt

    assert system_prompt(phone) == "Phone only."
    assert starting_message(phone) == "Hello caller."

"""50 conversations at once, two turns each: every transcript complete and in order, the stats
exact (no lost transcript append, no lost count), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conversations.conftest import agent_with, parse_sse, transcript
from tests.factories import Tenant
from tests.support.llm_stub import Scripted, StubLLMServer, user_text

CONVERSATIONS = 50


async def test_fifty_concurrent_conversations(tenant: Tenant, llm: StubLLMServer) -> None:
    llm.responder = lambda body: Scripted(text=f"echo: {user_text(body)}")
    agent_id, _ = await agent_with(tenant, {"instructions": "Echo.", "starting_message": "Hi."})

    async def talk(n: int) -> tuple[str, list[str]]:
        started = await tenant.post(
            f"/core/agents/{agent_id}/conversations", json={"version": "latest"}
        )
        assert started.status_code == 201, started.text
        conversation_id = started.json()["id"]
        answers = []
        for turn in range(2):
            response = await tenant.post(
                f"/core/conversations/{conversation_id}/messages",
                json={"content": f"c{n} t{turn}"},
            )
            assert response.status_code == 200, response.text
            events = parse_sse(response.text)
            assert events[-1][0] == "done", events
            answers.append(events[-1][1]["message"]["content"])
        if n % 2 == 0:
            ended = await tenant.post(f"/core/conversations/{conversation_id}/end")
            assert ended.status_code == 200, ended.text
        return conversation_id, answers

    results = await asyncio.gather(*(talk(n) for n in range(CONVERSATIONS)))

    for n, (conversation_id, answers) in enumerate(results):
        assert answers == [f"echo: c{n} t0", f"echo: c{n} t1"]
        read: dict[str, Any] = await transcript(tenant, conversation_id)
        assert [(e["role"], e["content"]) for e in read["transcript"]] == [
            ("agent", "Hi."),
            ("user", f"c{n} t0"),
            ("agent", f"echo: c{n} t0"),
            ("user", f"c{n} t1"),
            ("agent", f"echo: c{n} t1"),
        ]
        assert read["turns"] == 2
        assert read["status"] == ("completed" if n % 2 == 0 else "in_progress")
    stats = (await tenant.get(f"/core/agents/{agent_id}")).json()["conversation_stats"]
    assert stats["total"] == CONVERSATIONS
    assert stats["by_status"] == {
        "completed": CONVERSATIONS // 2,
        "in_progress": CONVERSATIONS // 2,
    }
    assert stats["by_channel"] == {"text": CONVERSATIONS}
    listed = await tenant.get("/core/conversations", params={"agent_id": agent_id, "limit": 100})
    assert len(listed.json()["data"]) == CONVERSATIONS

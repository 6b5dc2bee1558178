"""The Python examples of docs/sdk.md, docs/conversations.md and README.md run, in order, against
a fresh server."""

from __future__ import annotations

from pathlib import Path

import pytest

from callplane.client import Client
from tests.docs.conftest import DocsServer
from tests.docs.examples import REPO, code_blocks, run_python_examples

SDK_PAGE = REPO / "docs" / "sdk.md"
README = REPO / "README.md"
CONVERSATIONS_PAGE = REPO / "docs" / "conversations.md"


@pytest.fixture
def reader(docs_server: DocsServer, monkeypatch: pytest.MonkeyPatch) -> Client:
    """The environment a reader of the docs has exported; a client to check what they did."""
    for name, value in docs_server.environment(docs_server.examples_key).items():
        monkeypatch.setenv(name, value)
    return Client()


def test_the_sdk_page_runs_top_to_bottom(reader: Client) -> None:
    made = run_python_examples(SDK_PAGE)

    # (later sections may publish or roll back more: check what these examples did, not the end)
    agent = reader.agents.get(made["agent"].id)
    assert agent.description == "Answers the main line"
    assert reader.agents.versions.get(agent.id, made["fresh"].version).published
    assert "+14155551234" in [n.phone_number for n in agent.phone_numbers]
    site_agent = reader.agents.get(made["site_agent_id"])
    assert site_agent.metadata["website"].startswith("http://127.0.0.1")


def test_the_conversations_page_runs_top_to_bottom(reader: Client) -> None:
    """Talking to a draft, then a voice runtime's call: resolve, start on `telephone`, turns."""
    made = run_python_examples(CONVERSATIONS_PAGE)

    agent = reader.agents.get(made["agent"].id)
    assert agent.live_version == made["draft"].version
    assert agent.conversation_stats.total == 2  # the chat with the draft and the call
    ended = made["ended"]
    assert ended.status == "completed" and ended.transcript is not None
    calls = [c for c in reader.conversations.list(agent_id=agent.id) if c.channel == "telephone"]
    [call] = calls
    record = reader.conversations.get(call.id)
    assert (record.ended_reason, record.direction) == ("end_phrase", "inbound")
    assert record.transcript is not None
    assert [entry["role"] for entry in record.transcript][:3] == ["agent", "user", "agent"]


def test_the_readme_python_example_runs(reader: Client) -> None:
    assert [b for b in code_blocks(README) if b.info == "python"], "the README shows the SDK"
    made = run_python_examples(README)

    agent = reader.agents.get(made["agent"].id)
    assert agent.live_version == made["draft"].version == 1
    assert agent.sip_endpoint.enabled


def test_blocks_marked_no_run_are_left_out(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nran = 1\n```\n\n```python no-run\nraise SystemExit\n```\n")
    assert run_python_examples(page)["ran"] == 1


def test_a_failing_example_points_at_its_line_in_the_page(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Text\n\n```python\nfine = 1\n```\n\n```python\nfine += 1\nbroken\n```\n")
    with pytest.raises(NameError) as failure:
        run_python_examples(page)
    assert failure.traceback[-1].lineno + 1 == 9
    assert str(failure.traceback[-1].path) == str(page)

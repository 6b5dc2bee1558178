"""`docs/quickstart.sh` (the README's walkthrough) runs top to bottom against a fresh server."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import httpx

from tests.docs.conftest import DocsServer
from tests.docs.examples import QUICKSTART, REPO


def _get(server: DocsServer, path: str) -> Any:
    answer = httpx.get(
        f"{server.url}{path}", headers={"Authorization": f"Bearer {server.quickstart_key}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _agents(server: DocsServer, name: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = _get(server, f"/core/agents?name={name}&limit=100")["data"]
    return found


def test_the_quickstart_runs_top_to_bottom(docs_server: DocsServer) -> None:
    done = subprocess.run(
        ["bash", str(QUICKSTART)],
        cwd=REPO,
        env=docs_server.environment(docs_server.quickstart_key),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    agent_id = re.match(r"agent (\S+)\n", done.stdout)
    assert agent_id, output
    agent = _get(docs_server, f"/core/agents/{agent_id[1]}")
    run = agent["name"].removeprefix("Front desk ")
    assert done.returncode == 0, output

    # what the walkthrough built, seen through the API
    assert agent["description"] == "Answers the Acme Dental main line"
    assert agent["sip_endpoint"]["enabled"] is True
    assert agent["widgets"][0]["domains"] == ["acme.test", "*.acme.test", "localhost:3000"]
    # one imported (step 7), two live (step 10: over HTTP, then with `callplane chat`)
    assert agent["conversation_stats"]["total"] == 3
    assert agent["conversation_stats"]["by_channel"] == {"telephone": 2, "text": 1}
    assert "event: done\ndata: " in done.stdout and "agent> " in done.stdout
    assert [v["version"] for v in agent["versions"] if v["published"]] == [2, 1]
    numbers = {n["phone_number"]: n for n in agent["phone_numbers"]}
    assert set(numbers) == {f"+1415{_body(run)}", f"+1628{_body(run)}"}, output
    (billing,) = _agents(docs_server, f"Billing {run}")
    assert billing["live_version"] == 1
    (website,) = _agents(docs_server, f"Website {run}")
    assert website["metadata"]["website"] == f"{docs_server.website}/"
    assert not _get(docs_server, "/core/agents?is_demo=true")["data"], "step 9 deletes the demo"

    # the last step rolled back to version 1: live again, and every line of the agent on it
    assert done.stdout.endswith(f"done: agent {agent['id']}\n"), output
    assert agent["live_version"] == 1
    assert {(n["inbound_version"], n["outbound_version"]) for n in numbers.values()} == {
        (1, None),
        (1, 1),
    }


def _body(run: str) -> int:
    """The 7 digits the script derives its phone numbers from."""
    return 2_000_000 + int(run) % 8_000_000

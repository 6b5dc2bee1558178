"""`callplane agents|versions|numbers|widgets|conversations|webhooks|audit|workflows|
knowledge …` and `callplane chat`: the API from a shell, through the SDK (docs/cli.md).

Every command takes --url/--api-key/--org (or CALLPLANE_URL/CALLPLANE_API_KEY/CALLPLANE_ORG) and
--json. Exit codes: 0 ok, 1 API error (or a workflow that failed), 2 usage error (a missing key
included), 3 not found, 4 conflict (409/412), 5 server unreachable, 6 a wait timed out.
"""

from __future__ import annotations

import typer

from callplane.cli_remote import (
    agents,
    audit,
    chat,
    conversations,
    knowledge,
    numbers,
    tests,
    versions,
    webhooks,
    widgets,
    workflows,
)

GROUPS: dict[str, typer.Typer] = {
    "agents": agents.app,
    "versions": versions.app,
    "numbers": numbers.app,
    "widgets": widgets.app,
    "conversations": conversations.app,
    "webhooks": webhooks.app,
    "audit": audit.app,
    "workflows": workflows.app,
    "knowledge": knowledge.app,
}


def register(app: typer.Typer) -> None:
    for name, group in GROUPS.items():
        app.add_typer(group, name=name)
    chat.register(app)

    app.command("test")(tests.test_command)

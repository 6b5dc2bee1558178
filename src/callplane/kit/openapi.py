"""OpenAPI conventions: operation ids that read as verbs, and the tags in reading order.

Generated SDKs and API explorers name their methods after operation ids and group them by tag,
so these are part of the interface: `listAgents`, not `list_agents_core_agents_get`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

# The verbs an operation id may start with (tests/kit/test_conventions.py checks every route).
VERBS = frozenset(
    {
        "add",
        "cancel",
        "compare",
        "crawl",
        "create",
        "delete",
        "deploy",
        "diff",
        "end",
        "generate",
        "get",
        "import",
        "list",
        "preflight",
        "publish",
        "redeliver",
        "refresh",
        "register",
        "remove",
        "revoke",
        "resolve",
        "rollback",
        "rotate",
        "search",
        "send",
        "start",
        "update",
        "validate",
    }
)

# In reading order: what a newcomer builds first comes first. Every router's tag is one of these.
TAGS: list[dict[str, Any]] = [
    {
        "name": "agents",
        "description": "Conversational agents: create, list, rename, configure and delete them.",
    },
    {
        "name": "scaffolding",
        "description": "Start an agent from a website or a ready-made demo (background "
        "workflows that create the agent and its first draft).",
    },
    {
        "name": "versions",
        "description": "An agent's versions: drafts you edit, compare and generate "
        "instructions for; published versions are immutable history.",
    },
    {
        "name": "publishing",
        "description": "Make a version live and route phone numbers to it, all or nothing.",
    },
    {
        "name": "agent config",
        "description": "The agent configuration schema, and validation of a config without "
        "saving it.",
    },
    {
        "name": "phone numbers",
        "description": "Register the organization's phone numbers (E.164) and see which agent "
        "version each one routes to.",
    },
    {
        "name": "routing",
        "description": "What answers a phone number or SIP URI: the agent version and its config "
        "as a voice runtime runs it.",
    },
    {
        "name": "telephony",
        "description": "The organization's carrier accounts (Twilio, Telnyx) that phone calls "
        "arrive through; secrets are stored encrypted and never returned.",
    },
    {
        "name": "sip",
        "description": "Expose an agent as a SIP endpoint for your own telephony.",
    },
    {
        "name": "web widgets",
        "description": "Embeddable chat/voice widgets of an agent version, and their public, "
        "CORS-guarded read.",
    },
    {
        "name": "conversations",
        "description": "Conversation history: list, read and import conversations.",
    },
    {
        "name": "agent tests",
        "description": "Tests of an agent (scripted or simulated conversations with "
        "expectations), runs against a version, and the publish gate.",
    },
    {
        "name": "analytics",
        "description": "Conversation analytics per time bucket, computed by the database.",
    },
    {
        "name": "workflows",
        "description": "Background work (instruction generation, scaffolding): follow it and "
        "cancel it.",
    },
    {
        "name": "knowledge",
        "description": "Knowledge collections an agent can draw on.",
    },
    {
        "name": "webhooks",
        "description": "Subscribe an endpoint to the organization's events; deliveries are "
        "signed per the Standard Webhooks specification and retried.",
    },
    {
        "name": "audit",
        "description": "The audit log: every change, who made it and from which request.",
    },
    {
        "name": "admin",
        "description": "Organization administration: API keys and the caller's scopes.",
    },
    {
        "name": "operations",
        "description": "Liveness, readiness and metrics for operators; no credential needed.",
    },
]


def operation_id(function_name: str) -> str:
    """`publish_agent_version` → `publishAgentVersion`."""
    first, *rest = function_name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def name_operations(app: FastAPI) -> None:
    """Name every route without an explicit `operation_id=` after its function, camelCased: a
    route follows the convention by having a verb-first function name (`rollback_agent` →
    `rollbackAgent`), with nothing to register."""
    for route in app.routes:
        if isinstance(route, APIRoute) and route.operation_id is None:
            route.operation_id = operation_id(route.name)

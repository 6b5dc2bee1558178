"""Conversation workflows as durable DBOS workflows.

What a workflow can do today: call an HTTP endpoint (`url`, `method`) with the conversation's
data as a JSON body, through the SSRF guard, once, as a checkpointed step (a crash before the
step completes re-runs the call: endpoints should dedupe on `workflow_id`). `workflow` tool
actions, `pre_conversation_workflow` and `post_conversation_workflow` all run this way; the
engine does not wait for them. Published workflows by `workflow_id` do not exist yet.
"""

from __future__ import annotations

import json
from typing import Any

from callplane.agent_config.schemas import WorkflowTarget
from callplane.runtime.http import GuardedHttp, HttpActionError
from callplane.workflows import engine
from callplane.workflows.runtime import runtime

WORKFLOW = "conversation_call"  # the durable name (stored with every run: never rename it)


async def call_endpoint(request: dict[str, Any]) -> None:
    """The workflow body: one checkpointed HTTP call."""
    await engine.run_step(send, request)


async def send(request: dict[str, Any]) -> dict[str, Any]:
    """The step: POST (or the target's method) the payload; a refusal or an error status is
    recorded as the step's result, not retried (the receiver saw it or never will)."""
    settings = runtime().settings
    http = GuardedHttp(allow_private_networks=settings.crawler_allow_private_networks)
    body = json.dumps(request["payload"]).encode()
    try:
        result = await http.request(
            request["method"],
            request["url"],
            headers={
                "Content-Type": "application/json",
                "Callplane-Workflow-Id": request["workflow_id"],
            },
            body=body,
            timeout_seconds=float(request["timeout_seconds"]),
        )
    except HttpActionError as error:
        return {"ok": False, "error": error.code, "message": error.message}
    return {"ok": result.status < 400, "status": result.status}


class DurableWorkflows:
    """The engine's `WorkflowStarter`: enqueues `conversation_call` under a fixed id (starting
    the same id again is a no-op)."""

    async def start(self, workflow_id: str, target: WorkflowTarget, payload: dict[str, Any]) -> str:
        if target.url is None:
            raise ValueError("only workflows with a `url` can run today")
        request = {
            "workflow_id": workflow_id,
            "url": target.url,
            "method": target.method,
            "timeout_seconds": target.timeout_seconds,
            "payload": payload,
        }
        await engine.enqueue(WORKFLOW, workflow_id, request)
        return workflow_id

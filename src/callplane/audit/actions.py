"""The catalogue of audit actions: every `action` that `record()` is called with, in one place.

Webhook subscriptions are validated against it, and docs/webhooks.md lists it. A test
(tests/webhooks/test_catalogue.py) fails when a service records an action missing here.
"""

from __future__ import annotations

ACTIONS: dict[str, str] = {
    "agent.created": "An agent was created.",
    "agent.updated": "An agent's name or settings changed.",
    "agent.deleted": "An agent was deleted.",
    "agent.version.created": "A version (draft) was created.",
    "agent.version.updated": "A draft version was edited.",
    "agent.version.deleted": "A draft version was deleted.",
    "agent.version.published": "A version was published (made live), or rolled back to.",
    "agent.version.generation_started": "Instruction generation started for a draft.",
    "agent.version.instructions_generated": "Generated instructions were written into a draft.",
    "agent.test.created": "An agent test was created.",
    "agent.test.updated": "An agent test was replaced.",
    "agent.test.deleted": "An agent test was deleted.",
    "agent.test_settings.updated": "An agent's test settings (require_passing_tests) changed.",
    "agent.test_run.finished": "A test run finished (passed, failed or error).",
    "phone_number.created": "A phone number was registered.",
    "phone_number.updated": "A phone number's label or settings changed.",
    "phone_number.deleted": "A phone number was removed.",
    "phone_number.assignment_changed": "A phone number now routes to another agent version.",
    "sip_endpoint.deployed": "An agent was deployed as a SIP endpoint.",
    "sip_endpoint.removed": "An agent's SIP endpoint was removed.",
    "web_widget.created": "A web widget was created.",
    "web_widget.updated": "A web widget changed.",
    "web_widget.deleted": "A web widget was deleted.",
    "conversations.imported": "Conversations were imported.",
    "conversation.analyzed": "An ended conversation's post-conversation analysis was written.",
    "conversation.started": "A live conversation with an agent started.",
    "conversation.ended": "A live conversation ended (`changes.reason` says why).",
    "organization.created": "The organization was created (`callplane bootstrap`).",
    "member.added": "A user became a member of the organization (`callplane bootstrap`).",
    "api_key.created": "An API key was created.",
    "api_key.revoked": "An API key was revoked.",
    "workflow.started": "A background workflow was started.",
    "workflow.succeeded": "A background workflow succeeded.",
    "workflow.failed": "A background workflow failed.",
    "workflow.cancelled": "A background workflow was cancelled.",
    "webhook.created": "A webhook subscription was created.",
    "webhook.updated": "A webhook subscription changed.",
    "webhook.deleted": "A webhook subscription was deleted.",
    "webhook.secret_rotated": "A webhook subscription's signing secret was replaced.",
    "webhook.redelivered": "A delivery's event was queued to be sent again.",
}

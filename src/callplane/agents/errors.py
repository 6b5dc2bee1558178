from __future__ import annotations

from callplane.errors import Conflict, NotFound


class AgentNotFound(NotFound):
    code = "agent_not_found"
    default_detail = "Agent not found."


class AgentNotPublished(Conflict):
    code = "agent_not_published"
    default_detail = "The agent has no published version; publish one first."

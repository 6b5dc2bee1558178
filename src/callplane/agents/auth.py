"""Who may read and who may manage agents: the subjects of every agent-related route (agents,
versions, publishing, SIP, scaffolding, workflows, the config schema)."""

from __future__ import annotations

from typing import Annotated

from callplane.auth.dependencies import Requires
from callplane.auth.scopes import Scope
from callplane.auth.subject import AuthSubject

AGENTS_READ_SCOPES = (Scope.AGENTS_READ, Scope.AGENTS_MANAGE)
AgentsReader = Annotated[AuthSubject, Requires(*AGENTS_READ_SCOPES)]
AgentsManager = Annotated[AuthSubject, Requires(Scope.AGENTS_MANAGE)]

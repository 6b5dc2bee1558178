"""The conversation engine (infrastructure: it imports no domain).

`engine.Turn` runs one turn of an `AgentConfig` over a `prompt.ConversationContext`, with its
model, knowledge retriever, HTTP caller and workflow starter injected (`engine.TurnDeps`), so the
text channel, the widget, agent tests and voice runtimes drive the same code. docs/runtime.md
describes the behaviour; docs/adr/0013-conversation-engine.md why it is shaped so.
"""

from callplane.runtime.engine import OFFLINE_MODEL, Retriever, Turn, TurnDeps, WorkflowStarter
from callplane.runtime.events import (
    Action,
    Delta,
    Done,
    Error,
    Event,
    Knowledge,
    Passage,
    ToolCall,
    ToolResult,
)
from callplane.runtime.http import GuardedHttp, HttpActionError, HttpCaller, HttpResult
from callplane.runtime.prompt import ConversationContext

__all__ = [
    "OFFLINE_MODEL",
    "Action",
    "ConversationContext",
    "Delta",
    "Done",
    "Error",
    "Event",
    "GuardedHttp",
    "HttpActionError",
    "HttpCaller",
    "HttpResult",
    "Knowledge",
    "Passage",
    "Retriever",
    "ToolCall",
    "ToolResult",
    "Turn",
    "TurnDeps",
    "WorkflowStarter",
]

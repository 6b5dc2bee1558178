from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from callplane.kit.schemas import ResponseModel, UTCDateTime

WorkflowType = Literal[
    "generate_instructions",
    "create_from_website",
    "create_demo",
    "knowledge_crawl",
    "knowledge_refresh",
]
WorkflowStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class WorkflowAccepted(ResponseModel):
    workflow_id: str = Field(description="Poll GET /core/workflows/{workflow_id}.")


class Progress(ResponseModel):
    step: str | None = None
    message: str | None = None
    completed_steps: int = 0
    total_steps: int = 0


class WorkflowError(ResponseModel):
    code: str
    message: str


class WorkflowRead(ResponseModel):
    workflow_id: str
    type: str
    status: str = Field(description="queued | running | succeeded | failed | cancelled")
    progress: Progress
    result: dict[str, Any] | None
    error: WorkflowError | None
    attempts: int
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    finished_at: UTCDateTime | None

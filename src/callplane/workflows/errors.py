"""Why a workflow request fails."""

from __future__ import annotations

from callplane.errors import AppError, Conflict, NotFound


class WorkflowNotFound(NotFound):
    code = "workflow_not_found"
    default_detail = "Workflow not found."


class WorkflowFinished(Conflict):
    code = "workflow_finished"
    default_detail = "The workflow has already finished."


class WorkflowEngineUnavailable(AppError):
    status = 503
    code = "workflow_engine_unavailable"
    default_detail = "The workflow engine is not running in this process."

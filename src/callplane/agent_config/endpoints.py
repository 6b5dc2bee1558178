"""The config contract over HTTP: its JSON Schema, and validation without storing anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import BaseModel

from callplane.agent_config.model import agent_config_json_schema, validate_config
from callplane.agents.auth import AgentsReader

router = APIRouter(prefix="/core", tags=["agent config"])


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationResult(BaseModel):
    valid: bool
    errors: list[ValidationIssue]


@router.get("/agent-config-schema", response_model=dict[str, Any])
async def get_agent_config_schema(_: AgentsReader) -> dict[str, Any]:
    """The complete JSON Schema (2020-12) of AgentConfig, generated from the server's own model."""
    return agent_config_json_schema()


@router.post("/agent-config/validate", response_model=ValidationResult)
async def validate_agent_config(
    _: AgentsReader,
    config: Any = Body(description="An AgentConfig to check; nothing is stored."),
) -> ValidationResult:
    """Validate a config. An invalid config is a normal answer (`valid: false`), not a 4xx."""
    model, errors = validate_config(config)
    return ValidationResult(
        valid=model is not None, errors=[ValidationIssue.model_validate(e) for e in errors]
    )

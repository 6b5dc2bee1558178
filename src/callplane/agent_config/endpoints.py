"""The config contract over HTTP: its JSON Schema, and validation without storing anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from callplane.agent_config.schemas import (
    ValidationResult,
    agent_config_json_schema,
    validate_config,
)
from callplane.agents.auth import AgentsReader
from callplane.errors import ValidationIssue

router = APIRouter(prefix="/core", tags=["agent config"])


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

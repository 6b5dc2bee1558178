from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field, model_validator

from callplane.agent_config import AgentConfig, InstructionBuilderInputs
from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime

# Version numbers are 32-bit integers in the database; larger values would fail there (500), not
# in validation (422).
MAX_VERSION = 2_000_000_000


class VersionCreate(RequestModel):
    """Exactly one of `config` or `base_version`."""

    config: AgentConfig | None = None
    base_version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Version number to copy."
    )
    instruction_builder_inputs: InstructionBuilderInputs | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> VersionCreate:
        if (self.config is None) == (self.base_version is None):
            raise ValueError("give exactly one of `config` or `base_version`")
        return self


class VersionUpdate(RequestModel):
    config: AgentConfig | None = None
    instruction_builder_inputs: InstructionBuilderInputs | None = Field(
        default=None, description="Null clears the inputs."
    )

    @model_validator(mode="after")
    def _config_not_null(self) -> VersionUpdate:
        if "config" in self.model_fields_set and self.config is None:
            raise ValueError("`config` may be omitted but not null")
        return self


class VersionRead(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    version: int
    published: bool
    published_at: UTCDateTime | None
    config: dict[str, Any] = Field(description="An AgentConfig; see GET /core/agent-config-schema.")
    instruction_builder_inputs: dict[str, Any] | None
    instructions_status: str = Field(description="idle | generating | failed")
    instructions_dirty: bool
    instructions_manually_edited: bool
    instructions_generated_at: UTCDateTime | None
    created_at: UTCDateTime
    updated_at: UTCDateTime
    etag: str


class GenerationRun(BaseModel):
    """An instruction-generation run's input (stored as the run's `input`): the draft, and its
    builder inputs and instructions as they were when generation started."""

    agent_id: uuid.UUID
    version_id: uuid.UUID
    version: int
    inputs: dict[str, Any]
    instructions_before: str | None = None


class GeneratedText(BaseModel):
    instructions: str
    starting_message: str | None = None


class ApplyGenerated(BaseModel):
    """The `apply` step's argument: the run, and the text its `write` step returned."""

    organization_id: uuid.UUID
    run: GenerationRun
    generated: GeneratedText

"""The AgentConfig contract: the model the server validates with and publishes as JSON Schema.

Every model sets `extra="forbid"` itself, so an unknown key at any depth fails loudly instead of
being dropped; every field carries a description and bounds; every top-level field has a default,
so `{}` is a valid config.

Patterns use explicit ASCII classes (`[0-9]`, `[a-zA-Z0-9_]`), never `\\d` or `\\w`: pydantic's
Rust regex engine and JSON Schema validators disagree on what those match outside ASCII.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from callplane.errors import ValidationIssue

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

IDENTIFIER_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
LANGUAGE_PATTERN = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
SIP_URI_PATTERN = r"^sips?:[^ \t\r\n]+$"
HTTP_URL_PATTERN = r"^https?://[^ \t\r\n]+$"
DTMF_PATTERN = r"^[0-9*#wW]+$"
# RFC 9110 token characters: what a header name may contain.
HEADER_NAME_PATTERN = r"^[a-zA-Z0-9!#$%&'*+.^_`|~-]+$"

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
PropertyName = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
HeaderName = Annotated[str, Field(pattern=HEADER_NAME_PATTERN, max_length=256)]
HeaderValue = Annotated[str, Field(max_length=8192)]


def _exactly_one_of(*names: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these string fields is set", mirroring `_require_one`.

    Each branch asks for a *string* value, so a dumped config with the other key set to null still
    matches exactly one branch.
    """
    return {
        "oneOf": [{"required": [name], "properties": {name: {"type": "string"}}} for name in names]
    }


def _require_one(model: BaseModel, *names: str) -> None:
    """Reject none or several of `names` set: the runtime would not know which one to use."""
    given = [name for name in names if getattr(model, name) is not None]
    if len(given) != 1:
        raise PydanticCustomError(
            "exactly_one_required",
            "Exactly one of {fields} must be set",
            {"fields": ", ".join(names)},
        )


def _duplicates(values: Iterable[object]) -> list[str]:
    return sorted(str(value) for value, count in Counter(values).items() if count > 1)


# --- model layers -------------------------------------------------------------------------------


class LLMConfig(BaseModel):
    """The language model that writes the agent's replies."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        default="openai",
        min_length=1,
        max_length=64,
        description="LLM provider (an OpenAI-compatible endpoint by default).",
    )
    model: str = Field(
        default="gpt-4o-mini",
        min_length=1,
        max_length=128,
        description="Model name as the provider knows it.",
    )
    temperature: float = Field(
        default=0.7,
        ge=0.0,
        le=2.0,
        description="Sampling temperature: 0 is most deterministic, 2 most varied.",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=32768,
        description="Upper bound on tokens per reply; null lets the provider decide.",
    )


class VoiceConfig(BaseModel):
    """Text-to-speech: how the agent sounds on voice channels."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        default="openai", min_length=1, max_length=64, description="Text-to-speech provider."
    )
    voice_id: str = Field(
        default="alloy",
        min_length=1,
        max_length=128,
        description="Voice identifier within the provider's catalogue.",
    )
    language: str = Field(
        default="en-US",
        max_length=35,
        pattern=LANGUAGE_PATTERN,
        description="Spoken language as a BCP-47 tag, e.g. `en-US` or `de`.",
    )
    speed: float = Field(
        default=1.0, ge=0.5, le=2.0, description="Speaking rate; 1.0 is the voice's natural pace."
    )


class STTConfig(BaseModel):
    """Speech-to-text: how the caller's audio becomes text."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        default="deepgram", min_length=1, max_length=64, description="Speech-to-text provider."
    )
    model: str = Field(
        default="nova-3",
        min_length=1,
        max_length=128,
        description="Recognition model name as the provider knows it.",
    )
    language: str | None = Field(
        default="en-US",
        max_length=35,
        pattern=LANGUAGE_PATTERN,
        description="Expected language as a BCP-47 tag; null asks the provider to detect it.",
    )


class KnowledgeBaseAttachment(BaseModel):
    """A knowledge collection queried implicitly on every user turn."""

    model_config = ConfigDict(extra="forbid")

    collection_id: UUID = Field(description="Id of the knowledge collection to search.")
    top_n: int = Field(
        default=5, ge=1, le=50, description="How many passages to retrieve per turn."
    )


# --- actions ------------------------------------------------------------------------------------


class ActionBase(BaseModel):
    """Fields every tool action shares."""

    model_config = ConfigDict(extra="forbid")

    condition: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description=(
            "Expression evaluated against the tool-call data; the action runs only when it is "
            "true. Null means always."
        ),
    )


class PlayMessageAction(ActionBase):
    """Say a fixed message (sent as text on text channels)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["play_message"] = Field(description="Action type.")
    message: str = Field(
        min_length=1,
        max_length=4000,
        description="Message to say; may reference tool-call data as a template.",
    )


class _TransferAction(ActionBase):
    """Shared by the transfer actions: where the call goes, a number or a SIP URI."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_exactly_one_of("phone_number", "sip_uri")
    )

    phone_number: str | None = Field(
        default=None,
        max_length=16,
        pattern=E164_PATTERN,
        description="E.164 number to transfer to. Exactly one of `phone_number` or `sip_uri`.",
    )
    sip_uri: str | None = Field(
        default=None,
        max_length=2048,
        pattern=SIP_URI_PATTERN,
        description="SIP URI to transfer to. Exactly one of `phone_number` or `sip_uri`.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> _TransferAction:
        _require_one(self, "phone_number", "sip_uri")
        return self


class ColdTransferAction(_TransferAction):
    """Hand the call to another party without introducing it (voice only)."""

    type: Literal["cold_transfer"] = Field(description="Action type.")


class WarmTransferAction(_TransferAction):
    """Brief a human first, then connect the caller (voice only)."""

    type: Literal["warm_transfer"] = Field(description="Action type.")
    summary_prompt: str | None = Field(
        default=None,
        min_length=1,
        max_length=4000,
        description=(
            "Instructions for the summary given to the human before connecting; null uses a "
            "default summary of the conversation."
        ),
    )
    ring_timeout_seconds: int = Field(
        default=30,
        ge=5,
        le=120,
        description="How long to wait for the human to answer before giving up.",
    )


class DtmfAction(ActionBase):
    """Send touch-tones, e.g. to navigate a phone menu (voice only)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["dtmf"] = Field(description="Action type.")
    digits: str = Field(
        min_length=1,
        max_length=64,
        pattern=DTMF_PATTERN,
        description="Digits to send: 0-9, `*`, `#`; `w`/`W` pause for 0.5 s / 1 s.",
    )


class HangupAction(ActionBase):
    """End the conversation."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["hangup"] = Field(description="Action type.")


class WorkflowTarget(BaseModel):
    """A workflow to run: a published workflow by id, or an HTTP endpoint by URL."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_exactly_one_of("workflow_id", "url")
    )

    workflow_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Id of a published workflow. Exactly one of `workflow_id` or `url`.",
    )
    workflow_version: int | None = Field(
        default=None,
        ge=1,
        description="Version of `workflow_id` to run; null runs its latest published version.",
    )
    url: str | None = Field(
        default=None,
        max_length=2048,
        pattern=HTTP_URL_PATTERN,
        description="HTTP(S) endpoint to call instead. Exactly one of `workflow_id` or `url`.",
    )
    method: HttpMethod = Field(
        default="POST", description="HTTP method used with `url`; ignored for `workflow_id`."
    )
    timeout_seconds: int = Field(
        default=30, ge=1, le=300, description="Give up on the workflow after this many seconds."
    )

    @model_validator(mode="after")
    def _one_target(self) -> WorkflowTarget:
        _require_one(self, "workflow_id", "url")
        return self


class WorkflowAction(ActionBase, WorkflowTarget):
    """Run a workflow with the tool-call data; its result is merged into that data."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["workflow"] = Field(description="Action type.")


class KnowledgeBaseAction(ActionBase):
    """Explicit retrieval from a knowledge collection."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["knowledge_base"] = Field(description="Action type.")
    collection_id: UUID = Field(description="Id of the knowledge collection to search.")
    top_n: int = Field(default=5, ge=1, le=50, description="How many passages to retrieve.")
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description="Query template over the tool-call data; null searches with the arguments.",
    )


class HttpRequestAction(ActionBase):
    """Call an HTTP endpoint; the response is merged into the tool-call data."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http_request"] = Field(description="Action type.")
    url: str = Field(
        max_length=2048, pattern=HTTP_URL_PATTERN, description="HTTP(S) URL to call (a template)."
    )
    method: HttpMethod = Field(default="GET", description="HTTP method.")
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Request headers (values may be templates).",
        json_schema_extra={"propertyNames": {"pattern": HEADER_NAME_PATTERN, "maxLength": 256}},
    )
    body: dict[str, Any] | Annotated[str, Field(max_length=100_000)] | None = Field(
        default=None,
        description="Request body: a JSON object, a raw string template, or null for none.",
    )
    timeout_seconds: int = Field(
        default=10, ge=1, le=60, description="Give up on the request after this many seconds."
    )


Action = Annotated[
    PlayMessageAction
    | ColdTransferAction
    | WarmTransferAction
    | DtmfAction
    | HangupAction
    | WorkflowAction
    | KnowledgeBaseAction
    | HttpRequestAction,
    Field(discriminator="type"),
]


# --- tools --------------------------------------------------------------------------------------


class Tool(BaseModel):
    """A function the LLM may call; calling it runs `actions` in order."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="Function name shown to the LLM; unique within the config.",
    )
    description: str = Field(
        min_length=1,
        max_length=2000,
        description="What the tool does and when to call it, written for the LLM.",
    )
    properties: dict[PropertyName, dict[str, Any]] = Field(
        default_factory=dict,
        max_length=64,
        description="Arguments, as JSON Schema property objects keyed by argument name.",
        json_schema_extra={"propertyNames": {"pattern": IDENTIFIER_PATTERN}},
    )
    required: list[PropertyName] = Field(
        default_factory=list,
        max_length=64,
        description="Names of arguments the LLM must supply; each must be a key of `properties`.",
    )
    actions: list[Action] = Field(
        min_length=1, max_length=32, description="Actions run in order when the tool is called."
    )
    actions_on_error: list[Action] = Field(
        default_factory=list,
        max_length=32,
        description="Actions run in order when one of `actions` fails.",
    )
    output: str | None = Field(
        default=None,
        max_length=10_000,
        description="Template of the result returned to the LLM; null returns the tool-call data.",
    )

    @field_validator("required")
    @classmethod
    def _required_are_declared(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if duplicated := _duplicates(value):
            raise PydanticCustomError(
                "duplicate_required", "Duplicated names: {names}", {"names": ", ".join(duplicated)}
            )
        declared = info.data.get("properties")
        if declared is not None and (missing := [name for name in value if name not in declared]):
            raise PydanticCustomError(
                "undeclared_required",
                "Names not declared in properties: {names}",
                {"names": ", ".join(missing)},
            )
        return value


# --- channels, workflows, call handling ---------------------------------------------------------


class ChannelOverride(BaseModel):
    """Per-channel steering; anything left null falls back to the base config."""

    model_config = ConfigDict(extra="forbid")

    instructions: str | None = Field(
        default=None, max_length=100_000, description="Extra (or replacement) instructions."
    )
    instructions_mode: Literal["append", "replace"] = Field(
        default="append",
        description=(
            "`append`: base instructions, a blank line, then these; `replace`: these only."
        ),
    )
    starting_message: str | None = Field(
        default=None,
        min_length=1,
        max_length=4000,
        description="Greeting on this channel instead of the base `starting_message`.",
    )
    max_tool_steps: int | None = Field(
        default=None, ge=1, le=50, description="Tool-call budget per turn on this channel."
    )


class ChannelOverrides(BaseModel):
    """Overrides keyed by channel; a missing channel inherits the base config."""

    model_config = ConfigDict(extra="forbid")

    telephone: ChannelOverride | None = Field(default=None, description="Phone calls (PSTN/SIP).")
    webrtc: ChannelOverride | None = Field(default=None, description="Browser voice (web widget).")
    sms: ChannelOverride | None = Field(default=None, description="SMS conversations.")
    email: ChannelOverride | None = Field(default=None, description="Email conversations.")
    text: ChannelOverride | None = Field(default=None, description="Web chat and other text.")


class PreConversationWorkflow(WorkflowTarget):
    """Runs before the agent starts; may reject the conversation or add context."""

    model_config = ConfigDict(extra="forbid")

    reject_on_error: bool = Field(
        default=False,
        description="Abort the conversation if the workflow fails (otherwise it goes on).",
    )


class PostConversationWorkflow(WorkflowTarget):
    """Runs after the conversation ends, e.g. to push a summary to a CRM."""

    model_config = ConfigDict(extra="forbid")


class RecordingConfig(BaseModel):
    """Whether and where conversations are recorded."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=False, description="Record voice conversations.")
    location: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="Custom storage location (e.g. `s3://bucket/prefix`); null uses the default.",
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Delete recordings after this many days; null keeps them.",
    )


class EndCallRules(BaseModel):
    """When the agent ends a conversation on its own."""

    model_config = ConfigDict(extra="forbid")

    max_duration_seconds: int = Field(
        default=1800, ge=30, le=14_400, description="Hard limit on a conversation's length."
    )
    silence_timeout_seconds: int | None = Field(
        default=30,
        ge=5,
        le=600,
        description="Hang up after this much silence from the user; null never does.",
    )
    end_phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=20,
        description="Phrases that end the conversation when the user says them.",
    )


# --- post-conversation analysis -----------------------------------------------------------------


class AnalysisField(BaseModel):
    """One structured value to extract from each ended conversation (by the LLM)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        max_length=64,
        pattern=IDENTIFIER_PATTERN,
        description="Key the value is stored under; unique within `analysis.fields`.",
    )
    type: Literal["string", "number", "integer", "boolean"] = Field(
        default="string", description="JSON type of the extracted value."
    )
    description: str = Field(
        min_length=1,
        max_length=1000,
        description="What to extract, written for the LLM (e.g. `The caller's account number`).",
    )


class AnalysisConfig(BaseModel):
    """What the post-conversation analysis writes into each ended conversation.

    Without a configured LLM only what can be computed honestly (turns, duration, tools used,
    ended reason) is written; the summary, success and fields are marked `not_analyzed`."""

    model_config = ConfigDict(extra="forbid")

    summary: bool = Field(default=True, description="Write a short summary of the conversation.")
    success_criterion: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description=(
            "What a successful conversation achieves, in words (e.g. `The caller booked an "
            "appointment`); null skips the success verdict."
        ),
    )
    fields: list[AnalysisField] = Field(
        default_factory=list,
        max_length=20,
        description="Structured values to extract; names are unique.",
    )

    @field_validator("fields")
    @classmethod
    def _unique_field_names(cls, value: list[AnalysisField]) -> list[AnalysisField]:
        if duplicated := _duplicates(field.name for field in value):
            raise PydanticCustomError(
                "duplicate_field_name",
                "Field names must be unique; duplicated: {names}",
                {"names": ", ".join(duplicated)},
            )
        return value


# --- the config ---------------------------------------------------------------------------------


class AgentConfig(BaseModel):
    """The full shape of an agent version's config; every field is optional."""

    model_config = ConfigDict(extra="forbid", title="AgentConfig")

    type: Literal["static_prompt"] = Field(
        default="static_prompt", description="Config kind; only `static_prompt` exists today."
    )
    instructions: str = Field(
        default="", max_length=100_000, description="System prompt: purpose, personality, rules."
    )
    starting_message: str | None = Field(
        default=None,
        min_length=1,
        max_length=4000,
        description="What the agent says first; null waits for the user to speak.",
    )
    llm: LLMConfig = Field(default=LLMConfig(), description="Language model settings.")
    voice: VoiceConfig = Field(default=VoiceConfig(), description="Text-to-speech settings.")
    stt: STTConfig = Field(default=STTConfig(), description="Speech-to-text settings.")
    knowledge_bases: list[KnowledgeBaseAttachment] = Field(
        default_factory=list,
        max_length=20,
        description="Knowledge collections searched on every user turn; each at most once.",
    )
    tools: list[Tool] = Field(
        default_factory=list,
        max_length=64,
        description="Tools the LLM may call; names are unique.",
    )
    max_tool_steps: int = Field(
        default=10, ge=1, le=50, description="Tool calls the agent may chain within one turn."
    )
    channel_overrides: ChannelOverrides = Field(
        default=ChannelOverrides(), description="Per-channel instructions and limits."
    )
    pre_conversation_workflow: PreConversationWorkflow | None = Field(
        default=None, description="Workflow run before the conversation starts; null for none."
    )
    post_conversation_workflow: PostConversationWorkflow | None = Field(
        default=None, description="Workflow run after the conversation ends; null for none."
    )
    recording: RecordingConfig = Field(default=RecordingConfig(), description="Call recording.")
    noise_cancellation: bool = Field(
        default=False, description="Filter background noise from the user's audio."
    )
    end_call: EndCallRules = Field(
        default=EndCallRules(), description="Rules for ending a conversation automatically."
    )
    analysis: AnalysisConfig = Field(
        default=AnalysisConfig(),
        description="Post-conversation analysis: summary, success, fields.",
    )

    @field_validator("tools")
    @classmethod
    def _unique_tool_names(cls, value: list[Tool]) -> list[Tool]:
        if duplicated := _duplicates(tool.name for tool in value):
            raise PydanticCustomError(
                "duplicate_tool_name",
                "Tool names must be unique; duplicated: {names}",
                {"names": ", ".join(duplicated)},
            )
        return value

    @field_validator("knowledge_bases")
    @classmethod
    def _unique_collections(
        cls, value: list[KnowledgeBaseAttachment]
    ) -> list[KnowledgeBaseAttachment]:
        if duplicated := _duplicates(kb.collection_id for kb in value):
            raise PydanticCustomError(
                "duplicate_collection",
                "Each collection may be attached once; duplicated: {ids}",
                {"ids": ", ".join(duplicated)},
            )
        return value


# --- instruction builder ------------------------------------------------------------------------


class InstructionBuilderInputs(BaseModel):
    """Answers of the agent-builder wizard, from which instructions are generated."""

    model_config = ConfigDict(extra="forbid", title="InstructionBuilderInputs")

    company_name: str | None = Field(default=None, max_length=200, description="Company name.")
    company_overview: str | None = Field(
        default=None, max_length=10_000, description="What the company does, for the agent."
    )
    industry: str | None = Field(default=None, max_length=200, description="Industry or sector.")
    purpose: str | None = Field(default=None, max_length=2000, description="What the agent is for.")
    personality: str | None = Field(
        default=None, max_length=2000, description="Tone and persona the agent adopts."
    )
    language: str | None = Field(
        default=None, max_length=64, description="Language the agent speaks, e.g. `English`."
    )
    opening_line: str | None = Field(
        default=None,
        max_length=1000,
        description="First thing the agent says; becomes `starting_message`.",
    )
    conversation_flow: str | None = Field(
        default=None, max_length=20_000, description="Steps the conversation should follow."
    )
    closing: str | None = Field(
        default=None, max_length=2000, description="How the agent wraps up."
    )
    rules: list[Annotated[str, Field(min_length=1, max_length=1000)]] | None = Field(
        default=None,
        max_length=50,
        description="Guardrails: things the agent must or must never do.",
    )
    advanced_instructions: str | None = Field(
        default=None,
        max_length=20_000,
        description="Free-form text appended to the generated prompt.",
    )


# --- helpers ------------------------------------------------------------------------------------


def default_config() -> dict[str, Any]:
    """The config a new draft gets: `AgentConfig()` dumped as JSON-ready data."""
    return AgentConfig().model_dump(mode="json")


@cache
def _json_schema() -> dict[str, Any]:
    schema = AgentConfig.model_json_schema()
    builder = InstructionBuilderInputs.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    defs.update(builder.pop("$defs", {}))
    defs["InstructionBuilderInputs"] = builder
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def agent_config_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of AgentConfig, with InstructionBuilderInputs under `$defs`.

    Built once and copied per call, so callers may mutate what they get.
    """
    return copy.deepcopy(_json_schema())


def validate_config(data: Any) -> tuple[AgentConfig | None, list[dict[str, Any]]]:
    """Validate without raising: `(config, [])` or `(None, [{"loc", "msg", "type"}, ...])`.

    The validate endpoint reports an invalid config as data, not as a failed request.
    """
    if not isinstance(data, dict):
        return None, [{"loc": [], "msg": "Input should be a JSON object", "type": "model_type"}]
    try:
        return AgentConfig.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return None, [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]


# The answer of `POST /core/agent-config/validate` (no docstring: it would enter the OpenAPI).
class ValidationResult(BaseModel):
    valid: bool
    errors: list[ValidationIssue]

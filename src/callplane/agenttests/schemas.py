"""An agent test: the user side (scripted turns or a simulated caller), expectations, mocks."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from callplane.agent_config.schemas import IDENTIFIER_PATTERN
from callplane.kit.schemas import RequestModel, ResponseModel, UTCDateTime

ToolName = Annotated[str, Field(pattern=IDENTIFIER_PATTERN, max_length=64)]
Turn = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        le=100,
        description="Check only the agent's reply to this user turn (1 = the first); null "
        "checks the whole conversation.",
    ),
]


class SimulatedCaller(RequestModel):
    """A caller played by the LLM (needs CALLPLANE_LLM_BASE_URL; otherwise the test is skipped)."""

    persona: str = Field(min_length=1, max_length=2000, description="Who the caller is.")
    goal: str = Field(min_length=1, max_length=2000, description="What the caller wants.")
    max_turns: int = Field(default=6, ge=1, le=20, description="User turns at most.")


class ReplyContains(RequestModel):
    type: Literal["reply_contains"]
    text: str = Field(min_length=1, max_length=1000)
    case_sensitive: bool = False
    turn: Turn = None


class ReplyNotContains(RequestModel):
    type: Literal["reply_not_contains"]
    text: str = Field(min_length=1, max_length=1000)
    case_sensitive: bool = False
    turn: Turn = None


class ReplyMatches(RequestModel):
    type: Literal["reply_matches"]
    pattern: str = Field(min_length=1, max_length=1000, description="A Python regular expression.")
    turn: Turn = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from None
        return value


class CallsTool(RequestModel):
    type: Literal["calls_tool"]
    name: ToolName
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="A subset the call's arguments must contain (equal values).",
    )
    turn: Turn = None


class DoesNotCallTool(RequestModel):
    type: Literal["does_not_call_tool"]
    name: ToolName
    turn: Turn = None


class EndsWith(RequestModel):
    type: Literal["ends_with"]
    action: Literal["hangup", "transfer"]
    target: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="For `transfer`: the phone number or SIP URI it must go to (null: any).",
    )

    @model_validator(mode="after")
    def _target_for_transfers(self) -> EndsWith:
        if self.action == "hangup" and self.target is not None:
            raise ValueError("`target` applies to `transfer` only")
        return self


class MaxTurns(RequestModel):
    type: Literal["max_turns"]
    turns: int = Field(ge=1, le=100, description="The agent replies at most this many times.")


class Judge(RequestModel):
    type: Literal["judge"]
    rubric: str = Field(
        min_length=1,
        max_length=4000,
        description="What a good conversation does; scored by the LLM (skipped without one).",
    )


Expectation = Annotated[
    ReplyContains
    | ReplyNotContains
    | ReplyMatches
    | CallsTool
    | DoesNotCallTool
    | EndsWith
    | MaxTurns
    | Judge,
    Field(discriminator="type"),
]


class ToolMock(RequestModel):
    """Answers an `http_request` action of the tool without any network."""

    status: int = Field(default=200, ge=100, le=599)
    body: Any = None


class AgentTestDefinition(RequestModel):
    """The user side, the expectations and the mocks: what `agent_tests.definition` stores."""

    description: str | None = Field(default=None, max_length=2000)
    turns: list[Annotated[str, Field(min_length=1, max_length=4000)]] | None = Field(
        default=None, max_length=50, description="Scripted user messages, in order."
    )
    caller: SimulatedCaller | None = Field(
        default=None, description="A simulated caller instead of scripted turns."
    )
    expectations: list[Expectation] = Field(min_length=1, max_length=50)
    tool_mocks: dict[ToolName, ToolMock] = Field(
        default_factory=dict,
        max_length=64,
        description="Per tool name: the status and body its `http_request` actions get; "
        "tools not mocked run for real.",
    )
    variables: dict[
        Annotated[str, Field(pattern=IDENTIFIER_PATTERN)], Annotated[str, Field(max_length=2000)]
    ] = Field(default_factory=dict, max_length=50, description="Conversation variables.")
    channel: Literal["telephone", "webrtc", "sms", "email", "text"] = "text"

    @model_validator(mode="after")
    def _one_user_side(self) -> AgentTestDefinition:
        if (self.turns is None) == (self.caller is None):
            raise ValueError("exactly one of `turns` (non-empty) or `caller` must be given")
        if self.turns is not None and not self.turns:
            raise ValueError("`turns` must hold at least one message")
        return self


class AgentTestCreate(AgentTestDefinition):
    name: str = Field(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")


class AgentTestRead(ResponseModel):
    id: uuid.UUID
    agent_id: uuid.UUID
    name: str
    description: str | None
    turns: list[str] | None
    caller: dict[str, Any] | None
    expectations: list[dict[str, Any]]
    tool_mocks: dict[str, dict[str, Any]]
    variables: dict[str, str]
    channel: str
    revision: int
    created_at: UTCDateTime
    updated_at: UTCDateTime


class TestSettings(RequestModel):
    __test__ = False
    require_passing_tests: bool = Field(
        description="Publishing a version needs a passed run of all the agent's tests at the "
        "version's current revision (409 `tests_not_passed` otherwise)."
    )


class TestSettingsRead(ResponseModel):
    __test__ = False
    agent_id: uuid.UUID
    require_passing_tests: bool


class TestRunCreate(RequestModel):
    __test__ = False
    tests: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None, max_length=200, description="Names of the tests to run; null runs them all."
    )


class TestResultRead(ResponseModel):
    __test__ = False
    test_id: uuid.UUID
    name: str
    status: Literal["passed", "failed", "skipped", "error"]
    reason: str | None = Field(description="Why it failed or was skipped (the first failure).")
    expectations: list[dict[str, Any]] = Field(
        description="Each expectation's verdict: `status`, `reason`, and what was `seen`."
    )
    transcript: list[dict[str, Any]]
    duration_seconds: float


class TestRunRead(ResponseModel):
    __test__ = False
    id: uuid.UUID
    workflow_id: str
    agent_id: uuid.UUID
    agent_version_id: uuid.UUID
    version: int
    revision: int = Field(description="The version's revision the run tested.")
    status: Literal["queued", "running", "passed", "failed", "error"]
    all_tests: bool
    tests: int
    passed: int
    failed: int
    skipped: int
    errors: int
    created_at: UTCDateTime
    started_at: UTCDateTime | None
    finished_at: UTCDateTime | None
    results: list[TestResultRead] | None = Field(
        default=None, description="Per test (in a single run's read; null in lists)."
    )

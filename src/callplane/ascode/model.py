"""The agents-as-code file format (`apiVersion: callplane/v1`): parse, validate, normalize, dump.

The file declares the whole wanted state of each agent it names: a field left out means its
default (no description, active, not a demo, empty metadata, no numbers, no SIP). Only `config` /
`config_file` is required. Agents are matched with the server by exact name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callplane.agent_config import AgentConfig
from callplane.agenttests.schemas import AgentTestCreate
from callplane.phone_numbers.normalize import InvalidPhoneNumber, to_e164

API_VERSION = "callplane/v1"
SLOTS: tuple[str, str] = ("inbound", "outbound")


class FileError(ValueError):
    """The file cannot be used; the message names the file and every problem's location."""

    def __init__(self, path: Path | str, problems: Sequence[str]):
        self.path = str(path)
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{self.path}: invalid agents file:\n{lines}")


class PhoneNumbersSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inbound: list[str] = Field(default_factory=list)
    outbound: list[str] = Field(default_factory=list)

    @field_validator("inbound", "outbound", mode="before")
    @classmethod
    def _quoted(cls, value: Any) -> Any:
        # YAML reads an unquoted +14155551234 as the integer 14155551234: say so plainly.
        if isinstance(value, list):
            for item in value:
                if isinstance(item, int | float) and not isinstance(item, bool):
                    raise ValueError(
                        f"phone numbers must be quoted strings in YAML, e.g. '+{item}' "
                        f"(an unquoted +number is read as the integer {item})"
                    )
        return value

    @field_validator("inbound", "outbound")
    @classmethod
    def _e164(cls, value: list[str]) -> list[str]:
        numbers: list[str] = []
        for raw in value:
            try:
                number = to_e164(raw)
            except InvalidPhoneNumber as exc:
                raise ValueError(str(exc)) from None
            if number in numbers:
                raise ValueError(f"{number} is listed twice")
            numbers.append(number)
        return numbers


class AgentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=1000)
    description: str | None = Field(default=None, max_length=2000)
    active: bool = True
    is_demo: bool = False
    metadata: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] | None = None
    config_file: str | None = None
    phone_numbers: PhoneNumbersSpec = Field(default_factory=PhoneNumbersSpec)
    sip: bool = False
    # The agent's tests (docs/testing-agents.md): left out, the server's tests are left alone;
    # a list is the whole wanted set (matched by name: created, replaced, deleted).
    tests: list[dict[str, Any]] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()  # the server trims names too, so this is the name it stores
        if not 1 <= len(value) <= 200:
            raise ValueError("name must be 1-200 characters after trimming")
        return value

    @field_validator("metadata")
    @classmethod
    def _json_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        # YAML has types JSON lacks (an unquoted 2024-01-01 is a date): refuse them here.
        try:
            return dict(json.loads(json.dumps(value)))
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"metadata must be plain JSON (quote dates and times): {exc}"
            ) from None

    @model_validator(mode="after")
    def _one_config_source(self) -> AgentSpec:
        if (self.config is None) == (self.config_file is None):
            raise ValueError("give exactly one of `config` or `config_file`")
        return self


class AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: Literal["callplane/v1"] = Field(alias="apiVersion")
    agents: list[AgentSpec]


@dataclass(frozen=True)
class DesiredAgent:
    """One agent as the file wants it, with its config normalized and numbers in E.164."""

    name: str
    config: dict[str, Any]
    description: str | None = None
    active: bool = True
    is_demo: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    inbound: tuple[str, ...] = ()
    outbound: tuple[str, ...] = ()
    sip: bool = False
    tests: tuple[dict[str, Any], ...] | None = None  # normalized AgentTestCreate dumps

    def numbers(self, slot: str) -> tuple[str, ...]:
        return self.inbound if slot == "inbound" else self.outbound


def normalize_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config exactly as the server stores it (a JSON-mode dump of AgentConfig)."""
    return AgentConfig.model_validate(config).model_dump(mode="json")


def _location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _problems(error: ValidationError, prefix: Sequence[int | str] = ()) -> list[str]:
    problems = []
    for item in error.errors(include_url=False):
        # Drop pydantic's "Value error, " prefix: our messages already say what is wrong.
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"{_location([*prefix, *item['loc']])}: {message}")
    return problems


def _read_structured(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    return yaml.safe_load(text)


def load_file(path: Path | str) -> list[DesiredAgent]:
    """Parse and check an agents file; raise FileError listing every problem found."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FileError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    except yaml.YAMLError as exc:
        raise FileError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(raw, dict):
        raise FileError(path, ["the file must be a mapping with `apiVersion` and `agents`"])
    try:
        parsed = AgentsFile.model_validate(raw)
    except ValidationError as exc:
        raise FileError(path, _problems(exc)) from None
    return _resolve(path, parsed)


def _resolve(path: Path, parsed: AgentsFile) -> list[DesiredAgent]:
    problems: list[str] = []
    agents: list[DesiredAgent] = []
    seen_names: dict[str, int] = {}
    holders: dict[tuple[str, str], int] = {}
    for index, spec in enumerate(parsed.agents):
        where = f"agents[{index}]"
        if spec.name in seen_names:
            problems.append(
                f"{where}.name: {spec.name!r} is already declared by "
                f"agents[{seen_names[spec.name]}] (agents are matched by name, so names must be "
                "unique)"
            )
        seen_names.setdefault(spec.name, index)
        for slot in SLOTS:
            for number in getattr(spec.phone_numbers, slot):
                other = holders.setdefault((slot, number), index)
                if other != index:
                    problems.append(
                        f"{where}.phone_numbers.{slot}: {number} is also the {slot} number of "
                        f"agents[{other}]; a slot holds one agent"
                    )
        config = _config_of(path, spec, where, problems)
        tests = _tests_of(spec, index, problems)
        if config is None:
            continue
        agents.append(
            DesiredAgent(
                name=spec.name,
                config=config,
                description=spec.description,
                active=spec.active,
                is_demo=spec.is_demo,
                metadata=spec.metadata,
                inbound=tuple(spec.phone_numbers.inbound),
                outbound=tuple(spec.phone_numbers.outbound),
                sip=spec.sip,
                tests=tests,
            )
        )
    if problems:
        raise FileError(path, problems)
    return agents


def _tests_of(
    spec: AgentSpec, agent_index: int, problems: list[str]
) -> tuple[dict[str, Any], ...] | None:
    """The spec's tests as the server stores them (validated like the API does); None when the
    file does not manage them."""
    if spec.tests is None:
        return None
    tests: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, raw in enumerate(spec.tests):
        try:
            test = AgentTestCreate.model_validate(raw)
        except ValidationError as error:
            problems.extend(_problems(error, ("agents", agent_index, "tests", index)))
            continue
        if test.name in names:
            problems.append(
                f"agents[{agent_index}].tests[{index}].name: {test.name!r} is declared twice"
            )
        names.add(test.name)
        tests.append(test.model_dump(mode="json"))
    return tuple(tests)


def _config_of(
    path: Path, spec: AgentSpec, where: str, problems: list[str]
) -> dict[str, Any] | None:
    """The spec's config, read from `config_file` if needed and normalized; None on a problem."""
    if spec.config_file is not None:
        config_path = path.parent / spec.config_file
        where = f"{where}.config_file ({config_path})"
        try:
            raw = _read_structured(config_path)
        except OSError as exc:
            problems.append(f"{where}: cannot read: {exc.strerror or exc}")
            return None
        except (ValueError, yaml.YAMLError) as exc:
            problems.append(f"{where}: not valid JSON/YAML: {exc}")
            return None
        if not isinstance(raw, dict):
            problems.append(f"{where}: must hold one JSON/YAML object (an AgentConfig)")
            return None
    else:
        raw = spec.config or {}
        where = f"{where}.config"
    try:
        return normalize_config(raw)
    except ValidationError as exc:
        problems.extend(f"{where}.{problem}" for problem in _problems(exc))
        return None


class _FileDumper(yaml.SafeDumper):  # type: ignore[misc]
    """Writes multi-line text (instructions, messages) as `|` block scalars, line for line as
    people edit them, instead of one quoted line full of `\\n`."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML quotes the text instead when no block scalar can hold it exactly (a line ending in
    # a space, say): the file still reads back to the same string.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_FileDumper.add_representer(str, _text)


def dump_file(agents: Sequence[dict[str, Any]]) -> str:
    """A YAML agents file for already-built agent entries (see `export`)."""
    document = {"apiVersion": API_VERSION, "agents": list(agents)}
    text: str = yaml.dump(
        document,
        Dumper=_FileDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )
    return text

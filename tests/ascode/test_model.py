"""The file format: what loads, how it is normalized, and the errors a bad file gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callplane.agent_config import AgentConfig
from callplane.ascode.model import FileError, dump_file, load_file, normalize_config


def write(tmp_path: Path, text: str, name: str = "agents.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(FileError) as caught:
        load_file(path)
    assert str(path) in str(caught.value)
    return caught.value.problems


def test_a_full_file_loads_with_defaults_normalized(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
apiVersion: callplane/v1
agents:
  - name: "  Front desk "
    description: Answers the main line
    active: false
    is_demo: true
    metadata: {team: support, tier: 1}
    config: {instructions: "Be kind.", voice: {voice_id: verse}}
    phone_numbers:
      inbound: ["+1 415-555-1234"]
      outbound: ["+14155550000"]
    sip: true
  - name: Minimal
    config: {}
""",
    )
    front, minimal = load_file(path)
    assert front.name == "Front desk"
    assert (front.description, front.active, front.is_demo) == (
        "Answers the main line",
        False,
        True,
    )
    assert front.metadata == {"team": "support", "tier": 1}
    expected = AgentConfig.model_validate(
        {"instructions": "Be kind.", "voice": {"voice_id": "verse"}}
    ).model_dump(mode="json")
    assert front.config == expected
    assert front.inbound == ("+14155551234",)
    assert front.outbound == ("+14155550000",)
    assert front.sip is True
    # Left out = the default, so the file is the whole truth for the agents it declares.
    assert (minimal.description, minimal.active, minimal.is_demo, minimal.metadata) == (
        None,
        True,
        False,
        {},
    )
    assert (minimal.inbound, minimal.outbound, minimal.sip) == ((), (), False)
    assert minimal.config == AgentConfig().model_dump(mode="json")


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_config_file_is_read_relative_to_the_agents_file(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "configs").mkdir()
    config = {"instructions": "From a file.", "max_tool_steps": 3}
    text = (
        json.dumps(config)
        if suffix == "json"
        else "instructions: From a file.\nmax_tool_steps: 3\n"
    )
    (tmp_path / "configs" / f"desk.{suffix}").write_text(text, encoding="utf-8")
    path = write(
        tmp_path,
        f"apiVersion: callplane/v1\nagents:\n  - name: A\n    config_file: configs/desk.{suffix}\n",
    )
    (agent,) = load_file(path)
    assert agent.config == normalize_config(config)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "apiVersion: callplane/v2\nagents: []\n",
            "apiVersion: Input should be 'callplane/v1'",
        ),
        ("agents: []\n", "apiVersion: Field required"),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n    colour: red\n",
            "agents[0].colour: Extra inputs are not permitted",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n",
            "agents[0]: give exactly one of `config` or `config_file`",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n"
            "    config_file: x.json\n",
            "agents[0]: give exactly one of `config` or `config_file`",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: '  '\n    config: {}\n",
            "agents[0].name: name must be 1-200 characters after trimming",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n"
            "    phone_numbers: {inbound: [+14155551234]}\n",
            "agents[0].phone_numbers.inbound: phone numbers must be quoted strings in YAML, "
            "e.g. '+14155551234'",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n"
            "    phone_numbers: {outbound: ['not a number']}\n",
            "agents[0].phone_numbers.outbound: 'not a number' is not a phone number",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n"
            "    phone_numbers: {inbound: ['+14155551234', '+1 415 555 1234']}\n",
            "agents[0].phone_numbers.inbound: +14155551234 is listed twice",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {max_tool_steps: 0}\n",
            "agents[0].config.max_tool_steps: Input should be greater than or equal to 1",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {voice: {colour: x}}\n",
            "agents[0].config.voice.colour: Extra inputs are not permitted",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n"
            "  - name: A\n    config: {}\n",
            "agents[1].name: 'A' is already declared by agents[0]",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n"
            "  - name: A\n    config: {}\n    phone_numbers: {inbound: ['+14155551234']}\n"
            "  - name: B\n    config: {}\n    phone_numbers: {inbound: ['+14155551234']}\n",
            "agents[1].phone_numbers.inbound: +14155551234 is also the inbound number of agents[0]",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config_file: missing.json\n",
            "agents[0].config_file (",
        ),
        (
            "apiVersion: callplane/v1\nagents:\n  - name: A\n    config: {}\n"
            "    metadata: {since: 2024-01-01}\n",
            "agents[0].metadata: metadata must be plain JSON (quote dates and times)",
        ),
        ("- just\n- a list\n", "the file must be a mapping with `apiVersion` and `agents`"),
        ("apiVersion: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_files_name_the_location_of_each_problem(
    tmp_path: Path, body: str, expected: str
) -> None:
    problems = problems_of(write(tmp_path, body))
    assert any(expected in problem for problem in problems), problems


def test_one_number_may_be_one_agents_inbound_and_anothers_outbound(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "apiVersion: callplane/v1\nagents:\n"
        "  - name: A\n    config: {}\n    phone_numbers: {inbound: ['+14155551234']}\n"
        "  - name: B\n    config: {}\n    phone_numbers: {outbound: ['+14155551234']}\n",
    )
    a, b = load_file(path)
    assert (a.inbound, b.outbound) == (("+14155551234",), ("+14155551234",))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "apiVersion: callplane/v1\nagents:\n"
        "  - name: A\n    config: {max_tool_steps: 0}\n"
        "  - name: A\n    config: {}\n",
    )
    problems = problems_of(path)
    assert len(problems) == 2, problems


def test_missing_file_is_a_file_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nope.yaml")
    assert problems == ["cannot read: No such file or directory"]


def test_a_dumped_file_loads_back(tmp_path: Path) -> None:
    config = normalize_config({"instructions": "Ünïcode — ok.\nSecond line."})
    text = dump_file(
        [
            {
                "name": "A",
                "description": None,
                "active": True,
                "is_demo": False,
                "metadata": {"k": [1, 2]},
                "config": config,
                "phone_numbers": {"inbound": ["+14155551234"], "outbound": []},
                "sip": True,
            }
        ]
    )
    assert text.startswith("apiVersion: callplane/v1\n")
    (agent,) = load_file(write(tmp_path, text))
    assert agent.config == config
    assert agent.metadata == {"k": [1, 2]}
    assert agent.inbound == ("+14155551234",)
    assert agent.sip is True


@pytest.mark.parametrize(
    "instructions",
    [
        "You answer for Acme Dental.\nBe brief.\n\n- Never quote prices.\n",
        "No trailing newline.\n  Indented line: with a colon # and a hash",
        "  Leading spaces.\nSecond line.",
        "Trailing space \nSecond line.",  # no block scalar can hold it: quoted, still exact
        "\nStarts with a newline.\n\n\n",
    ],
)
def test_multi_line_text_is_written_as_a_block_and_reads_back_unchanged(
    tmp_path: Path, instructions: str
) -> None:
    config = normalize_config(
        {"instructions": instructions, "starting_message": "Hello.\nHow can I help?"}
    )
    entry = {"name": "A", "metadata": {}, "config": config, "sip": False}
    text = dump_file([entry])
    if "Trailing space" not in instructions:
        assert "  instructions: |" in text, text
        assert "\\n" not in text  # no escaped newlines anywhere
    assert "starting_message: |" in text
    (agent,) = load_file(write(tmp_path, text))
    assert agent.config == config

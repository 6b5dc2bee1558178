"""The planner and the applier against an in-memory server (no HTTP, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from callplane.agent_config.changes import Change
from callplane.ascode.apply import apply_plan
from callplane.ascode.model import DesiredAgent, normalize_config
from callplane.ascode.plan import Plan, PlanError, compute_plan, read_state, render_plan
from tests.ascode.fake import FakeBackend

A, B, C = "+14155550101", "+14155550102", "+14155550103"


def desired(name: str = "Desk", instructions: str = "Help.", **fields: Any) -> DesiredAgent:
    return DesiredAgent(
        name=name, config=normalize_config({"instructions": instructions}), **fields
    )


def plan_for(backend: FakeBackend, *agents: DesiredAgent) -> Plan:
    return compute_plan(agents, read_state(backend, agents))


def converge(backend: FakeBackend, *agents: DesiredAgent) -> Plan:
    """Plan, apply, and check that the next plan is empty; returns the applied plan."""
    plan = plan_for(backend, *agents)
    apply_plan(plan, backend)
    again = plan_for(backend, *agents)
    assert not again.has_changes, render_plan(again)
    return plan


def test_a_new_agent_is_created_published_numbered_and_sip_deployed() -> None:
    backend = FakeBackend()
    backend.register(A, B)
    want = desired(inbound=(A,), outbound=(B,), sip=True, metadata={"team": "x"})
    plan = plan_for(backend, want)
    (agent,) = plan.agents
    assert agent.create and agent.new_version and agent.sip == "deploy"
    assert [c.path for c in agent.config_changes] == ["instructions"]
    assert agent.moves("inbound") == ([A], []) and agent.moves("outbound") == ([B], [])
    text = render_plan(plan)
    assert '+ agent "Desk": create' in text
    assert '    + metadata: {"team": "x"}' in text
    assert '        changed instructions: "" → "Help."' in text
    assert f"    + inbound {A} → the new version (free)" in text
    assert "    + deploy SIP endpoint" in text
    assert text.endswith("Plan: 1 to create, 0 to update, 0 unchanged.")

    log: list[str] = []
    ids = apply_plan(plan, backend, log.append)
    agent_id = ids["Desk"]
    assert backend.calls == [
        ("create_agent", "Desk"),
        ("create_version", agent_id, 1),
        ("publish", agent_id, 1, [A], [], "inbound"),
        ("publish", agent_id, 1, [B], [], "outbound"),
        ("deploy_sip", agent_id),
    ]
    assert log == [
        f'created agent "Desk" ({agent_id})',
        'created version 1 of "Desk"',
        f'published v1 of "Desk" (inbound: assigned {A})',  # one "+": the number's own
        f'published v1 of "Desk" (outbound: assigned {B})',
        'deployed SIP for "Desk"',
    ]
    assert backend.holder(A, "inbound") == (agent_id, 1)
    assert backend.holder(B, "outbound") == (agent_id, 1)
    assert backend.agents[agent_id].metadata == {"team": "x"}
    again = plan_for(backend, want)
    assert not again.has_changes
    assert render_plan(again) == (
        f'  agent "Desk" ({agent_id}): no changes\n\n'
        "No changes: the server matches the file (1 agent)."
    )


def test_a_new_agent_without_numbers_is_published_once() -> None:
    backend = FakeBackend()
    converge(backend, desired())
    (agent_id,) = backend.agents
    assert backend.calls == [
        ("create_agent", "Desk"),
        ("create_version", agent_id, 1),
        ("publish", agent_id, 1, [], [], "inbound"),
    ]


def test_only_differing_fields_are_updated_without_a_new_version() -> None:
    backend = FakeBackend()
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Help."}), active=True)
    plan = converge(backend, desired(active=False, description="New"))
    assert plan.agents[0].field_changes == {"description": (None, "New"), "active": (True, False)}
    assert backend.calls == [("update_agent", agent_id, ["active", "description"])]
    assert "    ~ active: true → false" in render_plan(plan)


def test_a_config_change_makes_one_new_version_and_moves_every_number_to_it() -> None:
    backend = FakeBackend()
    backend.register(A, B)
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Old."}))
    backend.slots[A]["inbound"] = (agent_id, 1)
    backend.slots[B]["outbound"] = (agent_id, 1)
    plan = converge(backend, desired(instructions="New.", inbound=(A,), outbound=(B,)))
    (agent,) = plan.agents
    assert agent.config_changes == [Change("instructions", "changed", "Old.", "New.")]
    text = render_plan(plan)
    assert "    + new version (live is v1; 1 config change):" in text
    assert '        changed instructions: "Old." → "New."' in text
    assert f"    + inbound {A} → the new version (now this agent v1)" in text
    assert backend.calls == [
        ("create_version", agent_id, 2),
        ("publish", agent_id, 2, [A], [], "inbound"),
        ("publish", agent_id, 2, [B], [], "outbound"),
    ]
    assert backend.agents[agent_id].live_version == 2


def test_long_instructions_are_shortened_in_the_plan() -> None:
    backend = FakeBackend()
    backend.add_agent("Desk", normalize_config({"instructions": "Old."}))
    text = render_plan(plan_for(backend, desired(instructions="x" * 500)))
    (line,) = [line for line in text.splitlines() if "changed instructions" in line]
    assert line == f'        changed instructions: "Old." → "{"x" * 48}…'


def test_moving_a_number_between_slots_republishes_the_live_version() -> None:
    backend = FakeBackend()
    backend.register(A)
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Help."}))
    backend.slots[A]["inbound"] = (agent_id, 1)
    plan = converge(backend, desired(outbound=(A,)))
    assert "    ~ republish live v1 to move numbers" in render_plan(plan)
    assert backend.calls == [
        ("publish", agent_id, 1, [], [A], "inbound"),
        ("publish", agent_id, 1, [A], [], "outbound"),
    ]
    assert backend.slots[A] == {"inbound": (None, None), "outbound": (agent_id, 1)}


def test_a_number_left_out_of_the_file_is_unassigned() -> None:
    backend = FakeBackend()
    backend.register(A, B)
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Help."}))
    backend.slots[A]["inbound"] = (agent_id, 1)
    backend.slots[B]["inbound"] = (agent_id, 1)
    plan = converge(backend, desired(inbound=(A,)))
    assert f"    - inbound {B}: unassign (now this agent v1)" in render_plan(plan)
    assert backend.calls == [("publish", agent_id, 1, [], [B], "inbound")]
    assert backend.holder(B, "inbound") == (None, None)
    assert backend.holder(A, "inbound") == (agent_id, 1)


def test_apply_says_which_numbers_it_assigned_and_unassigned() -> None:
    backend = FakeBackend()
    backend.register(A, B)
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Help."}))
    backend.slots[B]["inbound"] = (agent_id, 1)
    log: list[str] = []
    apply_plan(plan_for(backend, desired(inbound=(A,))), backend, log.append)
    assert log == [f'published v1 of "Desk" (inbound: assigned {A}; unassigned {B})']


def test_a_number_on_an_older_version_is_moved_to_the_live_one() -> None:
    backend = FakeBackend()
    backend.register(A)
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Help."}))
    backend.agents[agent_id].configs.insert(0, normalize_config({"instructions": "v1"}))
    backend.agents[agent_id].live_version = 2
    backend.slots[A]["inbound"] = (agent_id, 1)
    converge(backend, desired(inbound=(A,)))
    assert backend.calls == [("publish", agent_id, 2, [A], [], "inbound")]


def test_a_number_held_by_an_agent_outside_the_file_is_taken_and_that_agent_left_alone() -> None:
    backend = FakeBackend()
    backend.register(A)
    other = backend.add_agent("Other", normalize_config({}), sip=True)
    backend.slots[A]["inbound"] = (other, 1)
    plan = converge(backend, desired(inbound=(A,)))
    assert f"(now agent {other} v1)" in render_plan(plan)
    assert all(other not in call for call in backend.calls)
    assert backend.agents[other].sip is True
    assert backend.agents[other].live_version == 1


@pytest.mark.parametrize("order", ["giver first", "taker first"])
def test_a_number_moves_between_two_agents_of_the_file(order: str) -> None:
    backend = FakeBackend()
    backend.register(A)
    giver = backend.add_agent("Giver", normalize_config({"instructions": "Help."}))
    taker = backend.add_agent("Taker", normalize_config({"instructions": "Help."}))
    backend.slots[A]["inbound"] = (giver, 1)
    agents = [desired("Giver"), desired("Taker", inbound=(A,))]
    converge(backend, *(agents if order == "giver first" else agents[::-1]))
    assert backend.holder(A, "inbound") == (taker, 1)


def test_sip_is_removed_when_the_file_says_false() -> None:
    backend = FakeBackend()
    agent_id = backend.add_agent("Desk", normalize_config({"instructions": "Help."}), sip=True)
    plan = converge(backend, desired())
    assert "    - remove SIP endpoint" in render_plan(plan)
    assert backend.calls == [("remove_sip", agent_id)]


def test_an_agent_never_published_gets_its_config_published() -> None:
    backend = FakeBackend()
    agent_id = backend.add_agent("Desk")
    backend.agents[agent_id].configs.append(normalize_config({"instructions": "Help."}))
    plan = converge(backend, desired())
    assert "    + new version (from the defaults; 1 config change):" in render_plan(plan)
    assert backend.calls == [
        ("create_version", agent_id, 2),
        ("publish", agent_id, 2, [], [], "inbound"),
    ]


def test_a_live_config_stored_without_defaults_still_matches() -> None:
    backend = FakeBackend()
    backend.add_agent("Desk", {"instructions": "Help."})  # e.g. written by an older server
    assert not plan_for(backend, desired()).has_changes


def test_several_server_agents_with_the_name_is_an_error() -> None:
    backend = FakeBackend()
    first = backend.add_agent("Desk")
    second = backend.add_agent("Desk")
    with pytest.raises(PlanError) as caught:
        plan_for(backend, desired())
    assert caught.value.problems == [
        f"agent 'Desk': 2 agents on the server have this name ({first}, {second}); "
        "rename all but one so the file matches exactly one"
    ]


def test_unregistered_numbers_are_an_error_before_any_change() -> None:
    backend = FakeBackend()
    backend.register(A)
    with pytest.raises(PlanError) as caught:
        plan_for(backend, desired("One", inbound=(A, B)), desired("Two", outbound=(C,)))
    assert caught.value.problems == [
        f"phone numbers not registered in this organization (register them first): {B}, {C}"
    ]
    assert backend.calls == []
    assert backend.agents == {}

"""Conversation records: all-or-nothing import, filters, the sensitive-field split, agent stats."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from callplane.models import Conversation
from tests.factories import Tenant, TenantFactory

BASE = "/core/conversations"
IMPORT = f"{BASE}/import"

TRANSCRIPT = [
    {"role": "agent", "content": "Hello, Acme Dental.", "at": "2024-05-01T12:00:00+02:00"},
    {"role": "user", "content": "I need a cleaning."},
]


def _parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _record(**fields: Any) -> dict[str, Any]:
    return {"channel": "telephone", "status": "completed", **fields}


async def _import(tenant: Tenant, *records: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return await tenant.post(IMPORT, json={"conversations": list(records)}, **kwargs)


async def _imported(tenant: Tenant, *records: dict[str, Any]) -> list[str]:
    """Import `records` and wait for their post-conversation analysis: it starts at once and
    writes the conversations in the background, which would race a test's reads."""
    response = await _import(tenant, *records)
    assert response.status_code == 201, response.text
    ids = [str(i) for i in response.json()["ids"]]
    # Asked of the database in one query (a GET per conversation was 500 requests per poll
    # for the 500-record import).
    wanted = [uuid.UUID(i) for i in ids]
    deadline = time.monotonic() + 60
    while True:
        async with tenant.database.session(write=False) as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.id.in_(wanted), Conversation.analysis_status == "pending")
            )
        if not pending:
            return ids
        assert time.monotonic() < deadline, f"{pending} conversations still pending analysis"
        await asyncio.sleep(0.02)


async def _ids(tenant: Tenant, **params: Any) -> list[str]:
    response = await tenant.get(BASE, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


async def test_import_returns_ids_and_stores_every_field(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    full = _record(
        agent_id=agent["id"],
        agent_version_id=version["id"],
        channel="webrtc",
        direction="inbound",
        status="completed",
        duration_seconds=93.5,
        turns=2,
        started_at="2024-05-01T10:00:00Z",
        ended_at="2024-05-01T12:01:33.500+02:00",
        transcript=TRANSCRIPT,
        summary="Booked a cleaning.",
        metadata={"crm_id": "42", "tags": ["vip"]},
        ended_reason="hangup",
        successful=True,
    )
    response = await _import(tenant, full, _record())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["imported"] == 2 and len(body["ids"]) == 2
    first_id, second_id = body["ids"]

    first = (await tenant.get(f"{BASE}/{first_id}")).json()
    # The post-conversation analysis runs in the background (tests/analytics/test_analysis.py).
    assert first.pop("analysis_status") in ("pending", "partial", "analyzed")
    first.pop("analysis")
    assert first == {
        "id": first_id,
        "agent_id": agent["id"],
        "agent_version_id": version["id"],
        "channel": "webrtc",
        "direction": "inbound",
        "status": "completed",
        "duration_seconds": 93.5,
        "turns": 2,
        "started_at": "2024-05-01T10:00:00Z",
        "ended_at": "2024-05-01T10:01:33.500000Z",
        "created_at": first["created_at"],
        "updated_at": first["updated_at"],
        "ended_reason": "hangup",  # imported records may carry it (live ones always do)
        "expires_at": None,
        "sensitive_included": True,
        "transcript": [
            {"role": "agent", "content": "Hello, Acme Dental.", "at": "2024-05-01T10:00:00Z"},
            {"role": "user", "content": "I need a cleaning.", "at": None},
        ],
        "summary": "Booked a cleaning.",
        "metadata": {"crm_id": "42", "tags": ["vip"]},
        "successful": True,
        "tool_call_count": 0,
    }
    assert first["created_at"].endswith("Z")

    second = (await tenant.get(f"{BASE}/{second_id}")).json()
    assert second["agent_id"] is None and second["agent_version_id"] is None
    assert second["direction"] is None and second["duration_seconds"] is None
    assert second["transcript"] is None and second["summary"] is None
    assert second["metadata"] == {}
    assert sorted(await _ids(tenant)) == sorted(body["ids"])


async def test_import_is_all_or_nothing_on_unknown_agent(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent = await tenant.create_agent()
    foreign = await other_tenant.create_agent()
    for missing in (str(uuid.uuid4()), foreign["id"]):
        response = await _import(
            tenant,
            _record(agent_id=agent["id"]),
            _record(),
            _record(agent_id=missing),
        )
        assert response.status_code == 404, response.text
        assert response.json() == {
            "detail": f"Agent {missing} not found.",
            "code": "agent_not_found",
        }
    assert await _ids(tenant) == []
    assert await _ids(other_tenant) == []


async def test_import_rejects_a_version_of_another_agent(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent, version = await tenant.published_agent()
    other, other_version = await tenant.published_agent()
    _, foreign_version = await other_tenant.published_agent()
    for version_id in (other_version["id"], foreign_version["id"], str(uuid.uuid4())):
        response = await _import(
            tenant,
            _record(agent_id=agent["id"], agent_version_id=version["id"]),
            _record(agent_id=agent["id"], agent_version_id=version_id),
        )
        assert response.status_code == 422, response.text
        assert response.json()["code"] == "unprocessable"
        assert version_id in response.json()["detail"]
    # The same version named for a second, different agent in one batch is caught too.
    response = await _import(
        tenant,
        _record(agent_id=agent["id"], agent_version_id=version["id"]),
        _record(agent_id=other["id"], agent_version_id=version["id"]),
    )
    assert response.status_code == 422, response.text
    assert await _ids(tenant) == []
    assert (await tenant.get(f"/core/agents/{other['id']}")).json()["conversation_stats"][
        "total"
    ] == 0


@pytest.mark.parametrize(
    "record",
    [
        _record(started_at="2024-05-01T10:00:00Z", ended_at="2024-05-01T09:59:59Z"),
        _record(started_at="2024-05-01T10:00:00", ended_at="2024-05-01T11:00:00+02:00"),
        _record(agent_version_id=str(uuid.uuid4())),
        _record(channel="fax"),
        _record(status="done"),
        _record(direction="sideways"),
        _record(duration_seconds=-1),
        _record(turns=-1),
        _record(started_at="yesterday"),
        _record(transcript=[{"role": "robot", "content": "beep"}]),
        _record(transcript=[{"role": "user", "content": "hi", "mood": "happy"}]),
        _record(metadata=["not", "an", "object"]),
        _record(agent_id="not-a-uuid"),
        _record(unknown_field=1),
        {"channel": "telephone"},
        {"status": "completed"},
    ],
)
async def test_import_rejects_invalid_records(tenant: Tenant, record: dict[str, Any]) -> None:
    response = await _import(tenant, _record(), record)
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert await _ids(tenant) == []


async def test_mixed_naive_and_aware_times_are_compared_in_utc(tenant: Tenant) -> None:
    """Naive timestamps mean UTC: comparing them with aware ones must not crash."""
    (conversation_id,) = await _imported(
        tenant, _record(started_at="2024-05-01T10:00:00", ended_at="2024-05-01T12:30:00+02:00")
    )
    conversation = (await tenant.get(f"{BASE}/{conversation_id}")).json()
    assert conversation["started_at"] == "2024-05-01T10:00:00Z"
    assert conversation["ended_at"] == "2024-05-01T10:30:00Z"


@pytest.mark.parametrize(
    "body",
    [
        {"conversations": []},
        {"conversations": [_record()] * 501},
        {"conversations": _record()},
        {},
        {"conversations": [_record()], "dry_run": True},
    ],
)
async def test_import_request_bounds(tenant: Tenant, body: dict[str, Any]) -> None:
    response = await tenant.post(IMPORT, json=body)
    assert response.status_code == 422, response.text
    assert await _ids(tenant) == []


async def test_import_accepts_exactly_500_records(tenant: Tenant) -> None:
    ids = await _imported(tenant, *[_record(turns=i) for i in range(500)])
    assert len(set(ids)) == 500
    page = (await tenant.get(BASE, params={"limit": 100})).json()
    assert len(page["data"]) == 100 and page["pagination"]["next_cursor"]


async def test_list_filters(tenant: Tenant, other_tenant: Tenant) -> None:
    agent_a = await tenant.create_agent(name="A")
    agent_b = await tenant.create_agent(name="B")
    a_phone_in, a_web_out = await _imported(
        tenant,
        _record(agent_id=agent_a["id"], channel="telephone", direction="inbound"),
        _record(agent_id=agent_a["id"], channel="webrtc", direction="outbound", status="failed"),
    )
    b_sms, orphan = await _imported(
        tenant,
        _record(agent_id=agent_b["id"], channel="sms", status="missed"),
        _record(channel="email", status="abandoned", direction="inbound"),
    )
    await _imported(other_tenant, _record(), _record(channel="sms"))

    everything = await _ids(tenant)
    assert sorted(everything) == sorted([a_phone_in, a_web_out, b_sms, orphan])
    assert await _ids(tenant, agent_id=agent_a["id"]) == [
        i for i in everything if i in (a_phone_in, a_web_out)
    ]
    assert await _ids(tenant, agent_id=agent_b["id"]) == [b_sms]
    assert await _ids(tenant, agent_id=str(uuid.uuid4())) == []
    assert await _ids(tenant, channel="sms") == [b_sms]
    assert await _ids(tenant, channel="text") == []
    assert await _ids(tenant, status="failed") == [a_web_out]
    assert await _ids(tenant, status="completed") == [a_phone_in]
    assert await _ids(tenant, direction="outbound") == [a_web_out]
    assert sorted(await _ids(tenant, direction="inbound")) == sorted([a_phone_in, orphan])
    assert await _ids(tenant, agent_id=agent_a["id"], direction="inbound") == [a_phone_in]

    created = {c["id"]: _parse(c["created_at"]) for c in (await tenant.get(BASE)).json()["data"]}
    end_of_batch_1 = max(created[a_phone_in], created[a_web_out]).isoformat()
    start_of_batch_2 = min(created[b_sms], created[orphan]).isoformat()
    assert sorted(await _ids(tenant, created_after=end_of_batch_1)) == sorted([b_sms, orphan])
    assert sorted(await _ids(tenant, created_before=start_of_batch_2)) == sorted(
        [a_phone_in, a_web_out]
    )
    assert await _ids(tenant, created_after="2999-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    "params",
    [
        {"channel": "fax"},
        {"status": "done"},
        {"direction": "both"},
        {"agent_id": "x"},
        {"created_after": "yesterday"},
        {"limit": 0},
        {"limit": 101},
    ],
)
async def test_list_rejects_bad_filters(tenant: Tenant, params: dict[str, Any]) -> None:
    response = await tenant.get(BASE, params=params)
    assert response.status_code == 422, response.text


async def test_list_paginates_newest_first(tenant: Tenant) -> None:
    ids: list[str] = []
    for i in range(3):
        ids += await _imported(tenant, _record(turns=i), _record(turns=i))
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.get(BASE, params=params)).json()
        assert page["pagination"]["limit"] == 4
        seen += [c["id"] for c in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 6
    # Batches come back newest first.
    assert set(seen[:2]) == set(ids[4:]) and set(seen[4:]) == set(ids[:2])
    response = await tenant.get(BASE, params={"cursor": "garbage"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


async def test_get_unknown_or_foreign_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    (theirs,) = await _imported(other_tenant, _record())
    for conversation_id in (theirs, str(uuid.uuid4())):
        response = await tenant.get(f"{BASE}/{conversation_id}")
        assert response.status_code == 404
        assert response.json() == {
            "detail": "Conversation not found.",
            "code": "conversation_not_found",
        }
    assert (await tenant.get(f"{BASE}/not-a-uuid")).status_code == 422


# --- the privacy split --------------------------------------------------------------------------


def _assert_redacted(conversation: dict[str, Any]) -> None:
    assert conversation["sensitive_included"] is False
    assert conversation["transcript"] is None
    assert conversation["summary"] is None
    assert conversation["metadata"] is None


async def test_sensitive_fields_need_read_sensitive(tenant: Tenant) -> None:
    (conversation_id,) = await _imported(
        tenant, _record(transcript=TRANSCRIPT, summary="secret", metadata={"ssn": "x"}, turns=2)
    )
    url = f"{BASE}/{conversation_id}"

    plain = await tenant.key_with("conversations:read")
    conversation = (await tenant.get(url, headers=plain)).json()
    _assert_redacted(conversation)
    assert conversation["turns"] == 2 and conversation["status"] == "completed"
    listed = (await tenant.get(BASE, headers=plain)).json()["data"]
    assert listed == [conversation]
    assert "secret" not in (await tenant.get(BASE, headers=plain)).text

    for headers in (tenant.headers, await tenant.key_with("conversations:read_sensitive")):
        conversation = (await tenant.get(url, headers=headers)).json()
        assert conversation["sensitive_included"] is True
        assert conversation["summary"] == "secret"
        assert conversation["metadata"] == {"ssn": "x"}
        assert len(conversation["transcript"]) == 2
        listed = (await tenant.get(BASE, headers=headers)).json()["data"]
        assert listed == [conversation]


async def test_viewer_can_read_but_not_import(tenants: TenantFactory) -> None:
    viewer = await tenants.create(role="viewer")
    (conversation_id,) = await _imported(viewer, _record(summary="secret"))

    response = await viewer.get(f"{BASE}/{conversation_id}", headers=viewer.token_headers)
    assert response.status_code == 200, response.text
    _assert_redacted(response.json())
    response = await viewer.get(BASE, headers=viewer.token_headers)
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["data"]] == [conversation_id]

    response = await _import(viewer, _record(), headers=viewer.token_headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "conversations:manage" in response.json()["detail"]
    assert await _ids(viewer) == [conversation_id]


async def test_import_and_read_scopes(tenant: Tenant) -> None:
    manager = await tenant.key_with("conversations:manage")
    response = await _import(tenant, _record(), headers=manager)
    assert response.status_code == 201, response.text
    (conversation_id,) = response.json()["ids"]

    reader = await tenant.key_with("conversations:read", "conversations:read_sensitive")
    response = await _import(tenant, _record(), headers=reader)
    assert response.status_code == 403
    assert (await tenant.get(BASE, headers=manager)).status_code == 403
    unrelated = await tenant.key_with("agents:read")
    assert (await tenant.get(f"{BASE}/{conversation_id}", headers=unrelated)).status_code == 403
    assert (await tenant.client.get(BASE)).status_code == 401
    assert await _ids(tenant) == [conversation_id]


# --- conversation_stats on the agent ------------------------------------------------------------


async def _stats(tenant: Tenant, agent_id: str) -> dict[str, Any]:
    response = await tenant.get(f"/core/agents/{agent_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["conversation_stats"])


async def test_stats_of_an_agent_without_conversations(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await _imported(tenant, _record(duration_seconds=10))  # no agent: counted nowhere
    assert await _stats(tenant, agent["id"]) == {
        "total": 0,
        "by_status": {},
        "by_channel": {},
        "average_duration_seconds": None,
        "total_duration_seconds": 0.0,
        "last_conversation_at": None,
    }


async def test_stats_are_computed_from_the_agents_conversations(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    agent, version = await tenant.published_agent()
    other = await tenant.create_agent()
    aid = agent["id"]
    await _imported(
        tenant,
        _record(agent_id=aid, duration_seconds=60, started_at="2024-05-01T10:00:00Z"),
        _record(
            agent_id=aid,
            agent_version_id=version["id"],
            channel="webrtc",
            duration_seconds=120.5,
            started_at="2024-05-03T12:00:00+02:00",
        ),
        _record(agent_id=aid, status="failed", started_at="2024-05-02T10:00:00Z"),
        _record(
            agent_id=aid,
            channel="sms",
            status="missed",
            duration_seconds=0,
            started_at="2024-04-30T10:00:00Z",
        ),
        _record(agent_id=other["id"], duration_seconds=1000, started_at="2025-01-01T00:00:00Z"),
    )
    await _imported(other_tenant, _record(duration_seconds=5))

    assert await _stats(tenant, aid) == {
        "total": 4,
        "by_status": {"completed": 2, "failed": 1, "missed": 1},
        "by_channel": {"telephone": 2, "webrtc": 1, "sms": 1},
        # The conversation without a duration is left out of the average; the 0 s one is not.
        "average_duration_seconds": pytest.approx(180.5 / 3),
        "total_duration_seconds": pytest.approx(180.5),
        "last_conversation_at": "2024-05-03T10:00:00Z",
    }
    other_stats = await _stats(tenant, other["id"])
    assert other_stats["total"] == 1
    assert other_stats["last_conversation_at"] == "2025-01-01T00:00:00Z"


async def test_stats_with_no_durations_have_no_average(tenant: Tenant) -> None:
    agent = await tenant.create_agent()
    await _imported(
        tenant,
        _record(agent_id=agent["id"], started_at="2024-05-01T10:00:00Z"),
        _record(agent_id=agent["id"], channel="text", started_at="2024-05-01T11:00:00Z"),
    )
    stats = await _stats(tenant, agent["id"])
    assert stats["total"] == 2
    assert stats["by_channel"] == {"telephone": 1, "text": 1}
    assert stats["average_duration_seconds"] is None
    assert stats["total_duration_seconds"] == 0.0
    assert stats["last_conversation_at"] == "2024-05-01T11:00:00Z"


async def test_conversations_outlive_their_agent(tenant: Tenant) -> None:
    agent, version = await tenant.published_agent()
    ids = await _imported(
        tenant,
        _record(agent_id=agent["id"], agent_version_id=version["id"], summary="kept"),
        _record(agent_id=agent["id"], channel="sms"),
    )
    before = {i: (await tenant.get(f"{BASE}/{i}")).json() for i in ids}

    assert (await tenant.delete(f"/core/agents/{agent['id']}")).status_code == 204
    assert (await tenant.get(f"/core/agents/{agent['id']}")).status_code == 404

    after = {i: (await tenant.get(f"{BASE}/{i}")).json() for i in ids}
    assert after == before
    assert after[ids[0]]["agent_version_id"] == version["id"]
    assert sorted(await _ids(tenant, agent_id=agent["id"])) == sorted(ids)
    # New imports naming the deleted agent are refused: it no longer exists.
    response = await _import(tenant, _record(agent_id=agent["id"]))
    assert response.status_code == 404
    assert sorted(await _ids(tenant)) == sorted(ids)

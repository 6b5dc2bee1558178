"""Deliveries: written with their event, sent signed, retried with backoff, visible in the API."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event as orm_event
from sqlalchemy import func, select
from standardwebhooks import Webhook, WebhookVerificationError

from callplane.audit import recorder as audit
from callplane.config import Settings
from callplane.db.engine import Database
from callplane.db.types import utcnow
from callplane.models import AuditEvent, WebhookDelivery
from callplane.webhooks import fanout
from callplane.webhooks.delivery import enqueue
from tests.factories import Tenant
from tests.support.receiver import Receiver
from tests.webhooks.helpers import all_finished, create_webhook, deliveries, wait_for_deliveries
from tests.workflows.helpers import generate_instructions


def documented_snippets() -> list[str]:
    """The Python blocks of docs/webhooks.md: the library's three lines, the raw algorithm."""
    docs = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    return re.findall(r"```python\n(.*?)```", docs, re.S)


def documented_library_check(secret: str, headers: dict[str, str], body: bytes) -> Any:
    """The three-line verification of docs/webhooks.md, run as written."""
    library, _ = documented_snippets()
    namespace: dict[str, Any] = {"secret": secret, "headers": headers, "body": body}
    exec(library, namespace)
    return namespace["payload"]


def documented_verify() -> Callable[[str, httpx.Headers, bytes], bool]:
    """The `verify` function of docs/webhooks.md (the raw algorithm), run as written."""
    _, raw = documented_snippets()
    namespace: dict[str, Any] = {}
    exec(raw, namespace)
    return namespace["verify"]  # type: ignore[no-any-return]


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does: the Standard Webhooks reference library, not the server's code."""
    try:
        Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return False
    return True


async def test_an_event_is_delivered_signed(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.*"])
    agent = await tenant.create_agent(name="Front desk")
    await tenant.register_number()  # phone_number.created: not subscribed

    [delivery] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert delivery["status"] == "succeeded", delivery
    assert delivery["event_type"] == "agent.created"
    assert delivery["attempts"] == 1 and delivery["last_status_code"] == 200
    assert delivery["last_error"] is None and delivery["last_response"] == "ok"
    assert delivery["delivered_at"] is not None and delivery["next_attempt_at"] is None

    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == delivery["id"]
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert verify(webhook["secret"], request.headers, request.body)
    assert not verify(webhook["secret"], request.headers, request.body + b" ")
    assert not verify("whsec_b3RoZXI=", request.headers, request.body)
    payload = documented_library_check(webhook["secret"], request.headers, request.body)
    assert payload == json.loads(request.body)
    with pytest.raises(WebhookVerificationError):
        documented_library_check(webhook["secret"], request.headers, request.body[:-1] + b" ")
    documented = documented_verify()
    assert documented(webhook["secret"], httpx.Headers(request.headers), request.body)
    assert not documented(webhook["secret"], httpx.Headers(request.headers), request.body[1:])

    body = json.loads(request.body)
    [event] = (await tenant.get(f"/core/audit-events?resource_id={agent['id']}")).json()["data"]
    assert body == {
        "id": event["id"],
        "type": "agent.created",
        "created_at": event["created_at"],
        "organization_id": str(tenant.organization_id),
        "resource": {"type": "agent", "id": agent["id"]},
        "actor": event["actor"],
        "changes": event["changes"],
        "request_id": event["request_id"],
    }
    assert delivery["event_id"] == event["id"]
    one = await tenant.get(f"/core/webhooks/{webhook['id']}/deliveries/{delivery['id']}")
    assert one.status_code == 200 and one.json() == delivery


async def test_failures_are_retried_until_one_succeeds(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers(script=[500, 503])
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    await tenant.create_agent()

    [delivery] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert delivery["status"] == "succeeded", delivery
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 200
    assert len(receiver.requests) == 3
    # The same delivery each time: same id and body, each signed for its own timestamp.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {delivery["id"]}
    assert len({r.body for r in receiver.requests}) == 1
    assert all(verify(webhook["secret"], r.headers, r.body) for r in receiver.requests)


async def test_a_delivery_fails_after_the_last_attempt(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers(default=500)
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    await tenant.create_agent()

    [delivery] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 3  # webhook_max_attempts in these tests
    assert delivery["last_status_code"] == 500 and delivery["last_error"] == "HTTP 500"
    assert delivery["last_response"].startswith("boom")
    assert len(delivery["last_response"]) <= 256  # an excerpt of the 1,000-byte body
    assert delivery["delivered_at"] is None and delivery["next_attempt_at"] is None
    await asyncio.sleep(0.3)  # longer than the whole schedule: nothing more is tried
    assert len(receiver.requests) == 3
    failed = await deliveries(tenant, webhook["id"], "&status=failed")
    assert [d["id"] for d in failed] == [delivery["id"]]
    assert await deliveries(tenant, webhook["id"], "&status=succeeded") == []


async def test_redirects_are_not_followed_and_errors_are_recorded(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    redirecting = receivers(default=302)
    closed = receivers()
    closed.close()  # nothing listens on its port any more
    first = await create_webhook(tenant, redirecting.url, ["agent.created"])
    second = await create_webhook(tenant, closed.url, ["agent.created"])
    await tenant.create_agent()

    [redirected] = await wait_for_deliveries(tenant, first["id"], all_finished)
    assert redirected["status"] == "failed" and redirected["last_status_code"] == 302
    assert redirected["last_error"] == "HTTP 302 (redirects are not followed)"
    assert [r.path for r in redirecting.requests] == ["/hook"] * 3  # never /elsewhere
    [refused] = await wait_for_deliveries(tenant, second["id"], all_finished)
    assert refused["status"] == "failed" and refused["attempts"] == 3
    assert refused["last_status_code"] is None and refused["last_error"]


async def test_a_slow_receiver_times_out(
    tenant: Tenant,
    receivers: Callable[..., Receiver],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = receivers(delay=0.6)
    monkeypatch.setattr(settings, "webhook_timeout_seconds", 0.2)
    monkeypatch.setattr(settings, "webhook_max_attempts", 1)
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    await tenant.create_agent()
    [delivery] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert delivery["status"] == "failed"
    assert delivery["last_error"] == "No response within 0.2 s."


async def test_slow_receivers_do_not_hold_up_other_workflows(
    tenant: Tenant,
    receivers: Callable[..., Receiver],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deliveries have a queue of their own: while slow receivers hold as many deliveries as the
    process runs workflows at once, instruction generation still starts at once (on one shared
    queue it waited for them)."""
    slow = 4.0
    receiver = receivers(delay=slow)
    monkeypatch.setattr(settings, "webhook_max_attempts", 1)
    monkeypatch.setattr(settings, "webhook_timeout_seconds", slow + 2)  # they wait it out
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    for _ in range(settings.workflow_concurrency):
        await tenant.create_agent()
    deadline = time.monotonic() + slow
    while len(receiver.requests) < settings.workflow_concurrency:
        assert time.monotonic() < deadline, "the deliveries never reached the receiver"
        await asyncio.sleep(0.02)  # they are held there, each in a slot of its queue

    started = time.monotonic()
    await generate_instructions(tenant)  # its new agent is one more slow delivery
    assert time.monotonic() - started < slow * 0.75
    pending = await deliveries(tenant, webhook["id"])
    assert len(pending) == settings.workflow_concurrency + 1


async def test_subscriptions_get_the_events_they_ask_for(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    exact = await create_webhook(tenant, receiver.url, ["agent.created"])
    versions = await create_webhook(tenant, receiver.url, ["agent.version.*"])
    several = await create_webhook(tenant, receiver.url, ["agent.updated", "phone_number.*"])
    everything = await create_webhook(tenant, receiver.url, ["*"])
    inactive = await create_webhook(tenant, receiver.url, ["*"], active=False)

    agent = await tenant.create_agent()
    await tenant.put(f"/core/agents/{agent['id']}", json={"name": "Renamed"})
    await tenant.create_version(agent["id"])
    await tenant.register_number()

    async def types(webhook: dict[str, object]) -> list[str]:
        found = await wait_for_deliveries(tenant, str(webhook["id"]), all_finished)
        assert {d["status"] for d in found} == {"succeeded"}
        return sorted(d["event_type"] for d in found)

    assert await types(exact) == ["agent.created"]
    assert await types(versions) == ["agent.version.created"]
    assert await types(several) == ["agent.updated", "phone_number.created"]
    assert await types(everything) == [
        "agent.created",
        "agent.updated",
        "agent.version.created",
        "phone_number.created",
        "webhook.created",  # its own creation: a `*` subscription hears about itself
        "webhook.created",  # the inactive subscription's
    ]
    assert await deliveries(tenant, inactive["id"]) == []
    assert len(receiver.requests) == 10


async def test_other_organizations_events_are_not_delivered(
    tenant: Tenant, other_tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.*"])
    await other_tenant.create_agent()
    mine = await tenant.create_agent()
    [delivery] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    [request] = receiver.requests
    assert json.loads(request.body)["resource"]["id"] == mine["id"]
    assert delivery["status"] == "succeeded"


async def test_a_rolled_back_write_delivers_nothing(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.version.*", "phone_number.*"])
    agent = await tenant.create_agent()
    version = await tenant.create_version(agent["id"])
    refused = await tenant.publish(agent["id"], version["version"], phone_numbers=["+14155550000"])
    assert refused.status_code == 404  # the whole publish is rolled back, its events too
    found = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert [d["event_type"] for d in found] == ["agent.version.created"]


async def test_events_recorded_by_workflows_are_delivered(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    """Workflows write in sessions of their own, outside any request: their deliveries are
    handed to the engine when those commit, too."""
    receiver = receivers()
    webhook = await create_webhook(
        tenant, receiver.url, ["workflow.*", "agent.version.instructions_generated"]
    )
    await generate_instructions(tenant)

    found = await wait_for_deliveries(tenant, webhook["id"], lambda f: len(f) == 3)
    found = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert sorted(d["event_type"] for d in found) == [
        "agent.version.instructions_generated",
        "workflow.started",
        "workflow.succeeded",
    ]
    assert {d["status"] for d in found} == {"succeeded"}
    actors = {json.loads(r.body)["type"]: json.loads(r.body)["actor"] for r in receiver.requests}
    assert actors["workflow.succeeded"]["type"] == "workflow"


async def test_a_transaction_reads_the_subscriptions_once(
    tenant: Tenant, database: Database, receivers: Callable[..., Receiver]
) -> None:
    """A write that records many events (a publish, an import) costs one subscription query."""
    receiver = receivers()
    created = await create_webhook(tenant, receiver.url, ["agent.created"])
    await create_webhook(tenant, receiver.url, ["phone_number.*"])
    queries: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM webhooks" in statement:
            queries.append(statement)

    orm_event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with database.session(write=True) as session, session.begin():
            for n in range(100):
                action = "agent.created" if n == 99 else "agent.updated"
                await audit.record(session, tenant.organization_id, action, "agent", n, {"n": n})
    finally:
        orm_event.remove(database.engine.sync_engine, "before_cursor_execute", count)
    assert len(queries) == 1
    [delivery] = await wait_for_deliveries(tenant, created["id"], all_finished)
    assert delivery["status"] == "succeeded"
    [request] = receiver.requests
    assert json.loads(request.body)["changes"] == {"n": 99}


async def test_a_rolled_back_session_enqueues_nothing(
    tenant: Tenant, database: Database, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.*"])
    async with database.session(write=True) as session:
        async with session.begin():
            await audit.record(session, tenant.organization_id, "agent.updated", "agent", 1)
            await session.rollback()
        async with session.begin():  # the same session goes on: nothing is left over
            await audit.record(session, tenant.organization_id, "agent.deleted", "agent", 2)
    [delivery] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert delivery["event_type"] == "agent.deleted" and delivery["status"] == "succeeded"
    assert len(receiver.requests) == 1


async def stranded_delivery(
    database: Database, tenant: Tenant, webhook_id: str, overdue: timedelta
) -> uuid.UUID:
    """A pending delivery as a process that died between its commit and the hand-over to the
    engine leaves it: written, never enqueued, its first attempt `overdue`."""
    async with database.session(write=True) as session, session.begin():
        event = AuditEvent(
            organization_id=tenant.organization_id,
            action="agent.deleted",
            resource_type="agent",
            resource_id=str(uuid.uuid4()),
            actor_type="system",
            changes={},
        )
        session.add(event)
        await session.flush()
        delivery = WebhookDelivery(
            organization_id=tenant.organization_id,
            webhook_id=uuid.UUID(webhook_id),
            event_id=event.id,
            event_type=event.action,
            status="pending",
            attempts=0,
            next_attempt_at=utcnow() - overdue,
        )
        session.add(delivery)
    return delivery.id


async def test_the_sweep_sends_deliveries_a_dead_process_left_behind(
    tenant: Tenant, database: Database, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.*"])
    # Overdue by 3 s: enough for the sweep below, too little for the app's own sweep (10 s),
    # which must not race this test.
    stranded = await stranded_delivery(database, tenant, webhook["id"], timedelta(seconds=3))
    await asyncio.sleep(0.3)
    assert receiver.requests == []  # nobody enqueued it

    assert await fanout.sweep(database, timedelta(seconds=1)) >= 1
    [found] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert found["id"] == str(stranded) and found["status"] == "succeeded"
    await fanout.sweep(database, timedelta(seconds=1))  # again: a finished one is left alone
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 1


async def test_a_deactivated_webhooks_pending_deliveries_fail(
    tenant: Tenant, database: Database, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.*"], active=False)
    stranded = await stranded_delivery(database, tenant, webhook["id"], timedelta(0))
    await enqueue(stranded, 1)
    [found] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert found["status"] == "failed" and found["attempts"] == 0
    assert found["last_error"] == "The webhook was deactivated before this delivery."
    assert receiver.requests == []


async def test_redelivery_sends_the_event_again(
    tenant: Tenant, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers(script=[500, 500, 500])
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    await tenant.create_agent()
    [failed] = await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert failed["status"] == "failed"

    again = await tenant.post(f"/core/webhooks/{webhook['id']}/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending" and again.json()["id"] != failed["id"]
    found = await wait_for_deliveries(
        tenant, webhook["id"], lambda f: len(f) == 2 and all_finished(f)
    )
    assert [d["status"] for d in found] == ["succeeded", "failed"]
    assert found[0]["event_id"] == failed["event_id"]
    first, last = json.loads(receiver.requests[0].body), json.loads(receiver.requests[-1].body)
    assert first == last  # the same event
    assert receiver.requests[-1].headers["webhook-id"] == again.json()["id"]

    await tenant.patch(f"/core/webhooks/{webhook['id']}", json={"active": False})
    inactive = await tenant.post(
        f"/core/webhooks/{webhook['id']}/deliveries/{failed['id']}/redeliver"
    )
    assert inactive.status_code == 409 and inactive.json()["code"] == "webhook_inactive"
    missing = await tenant.post(
        f"/core/webhooks/{webhook['id']}/deliveries/{uuid.uuid4()}/redeliver"
    )
    assert missing.status_code == 404


async def test_deleting_a_webhook_drops_its_deliveries(
    tenant: Tenant, database: Database, receivers: Callable[..., Receiver]
) -> None:
    receiver = receivers()
    webhook = await create_webhook(tenant, receiver.url, ["agent.created"])
    await tenant.create_agent()
    await wait_for_deliveries(tenant, webhook["id"], all_finished)
    assert (await tenant.delete(f"/core/webhooks/{webhook['id']}")).status_code == 204
    assert (await tenant.get(f"/core/webhooks/{webhook['id']}/deliveries")).status_code == 404
    async with database.session(write=False) as session:
        left = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == uuid.UUID(webhook["id"]))
        )
    assert left == 0
    await tenant.create_agent()
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 1

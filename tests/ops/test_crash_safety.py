"""Crash safety: processes `kill -9`-ed in the middle of their work leave nothing inconsistent.

1. A real API server killed during a burst of concurrent writes (creates, edits, publishes to phone
   numbers, draft and agent deletes, conversation imports, SIP and widget deploys): every invariant
   of the data holds after the crash, the restarted server serves, and retrying the unanswered
   requests with their Idempotency-Keys does each one's work exactly once (a request whose work
   committed but whose response was lost gets 409 `idempotency_key_response_lost`, see ADR 0004).
2. A worker killed mid-workflow, never restarted: the surviving worker (another executor id) takes
   its workflow over and finishes it without repeating a finished step; the executor locks behind
   that takeover admit one live process per id and one taker at a time (PostgreSQL).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from callplane.config import Settings
from callplane.db.engine import Database
from callplane.workflows.engine import system_database_url
from callplane.workflows.takeover import ExecutorGuard, ExecutorIdInUse
from tests.conftest import POSTGRES
from tests.factories import Tenant, unique_phone_number
from tests.ops import invariants
from tests.scaffolding.conftest import dental_site
from tests.support.llm_stub import StubLLMServer
from tests.support.processes import (
    Process,
    Processes,
    Serve,
    executor_of,
    finished_run,
    process_env,
)

AGENTS = 6
DELETE_AT = (30, 60)  # the first agents are deleted by these calls of the burst
NUMBERS = 8
CONCURRENCY = 16
KILL_AFTER = 120  # responses received before the kill
LOCK_SECONDS = 1  # idempotency reservations of the killed server expire this fast
postgres_only = pytest.mark.skipif(
    not POSTGRES,
    reason="PostgreSQL only: on SQLite one embedded process runs workflows, and it resumes its "
    "own work when restarted (there is no other worker to take over)",
)


@dataclass
class Call:
    kind: str
    method: str
    path: str
    body: Any
    agent: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: int | None = None  # None: no answer (yet)
    # The work committed before the crash, its response was lost: the retry got 409 saying so.
    response_lost: bool = False

    @property
    def done(self) -> bool:
        return self.status in (200, 201, 204) or self.response_lost


class Burst:
    """Plans random writes against what earlier answers revealed, and remembers every call."""

    def __init__(self, agents: list[str], numbers: list[str], versions: dict[str, dict[int, str]]):
        self.rng = random.Random(7)
        self.agents, self.numbers = agents, numbers
        self.versions = versions  # agent -> number -> version id, as answers reported them
        self.instructions: dict[str, dict[int, str]] = {a: {} for a in agents}  # kept by edits
        self.published: dict[str, set[int]] = {a: {1} for a in agents}
        self.calls: list[Call] = []
        self.deleted_drafts: set[tuple[uuid.UUID, int]] = set()

    def plan(self) -> Call:
        kind = self.rng.choices(
            ["create", "update", "publish", "drop", "import", "sip", "widget"],
            weights=[30, 14, 24, 8, 10, 5, 6],
        )[0]
        agent = self.rng.choice(self.agents)
        if len(self.calls) in DELETE_AT:  # each deletable agent goes, with writes still racing it
            kind, agent = "delete", self.agents[DELETE_AT.index(len(self.calls))]
        base = f"/core/agents/{agent}"
        known = sorted(self.versions[agent])
        drafts = [n for n in known if n not in self.published[agent]] or known
        number = self.rng.choice(drafts)
        call: Call
        if kind == "create":
            call = Call(kind, "POST", f"{base}/versions", None, agent)
            call.body = {"config": {"instructions": f"burst {call.key}"}}
        elif kind == "update":
            instructions = self.instructions[agent].get(number, "Help callers.")
            body = {"config": {"instructions": instructions, "starting_message": f"edit {number}"}}
            call = Call(kind, "PUT", f"{base}/versions/{number}", body, agent)
        elif kind == "publish":
            body = {
                "phone_numbers": self.rng.sample(self.numbers, 2),
                "direction": self.rng.choice(["inbound", "outbound", "both"]),
            }
            number = self.rng.choice(known)
            call = Call(kind, "POST", f"{base}/versions/{number}/publish", body, agent)
        elif kind == "drop":
            self.deleted_drafts.add((uuid.UUID(agent), number))
            call = Call(kind, "DELETE", f"{base}/versions/{number}", None, agent)
        elif kind == "import":
            call = Call(kind, "POST", "/core/conversations/import", None, agent)
            call.body = {
                "conversations": [
                    {
                        "agent_id": agent,
                        "channel": self.rng.choice(["telephone", "webrtc"]),
                        "status": self.rng.choice(["completed", "missed"]),
                        "duration_seconds": self.rng.choice([None, 12.5]),
                        "metadata": {"burst": call.key},
                    }
                    for _ in range(3)
                ]
            }
        elif kind == "sip":
            call = Call(kind, "POST", f"{base}/deploy-as-sip", None, agent)
        elif kind == "widget":
            live = self.rng.choice(sorted(self.published[agent] & set(known)))
            body = {"agent_id": agent, "agent_version_id": self.versions[agent][live]}
            call = Call(kind, "POST", "/core/web-widgets", body, agent)
        else:
            call = Call(kind, "DELETE", base, None, agent)
        self.calls.append(call)
        return call

    def learn(self, call: Call, response: httpx.Response) -> None:
        call.status = response.status_code
        if call.kind == "create" and response.status_code == 201:
            version = response.json()
            self.versions[call.agent][version["version"]] = version["id"]
            self.instructions[call.agent][version["version"]] = call.body["config"]["instructions"]
        if call.kind == "publish" and response.status_code == 200:
            self.published[call.agent].add(int(call.path.split("/")[-2]))

    async def send(self, client: httpx.AsyncClient, call: Call) -> httpx.Response:
        return await client.request(
            call.method, call.path, json=call.body, headers={"Idempotency-Key": call.key}
        )


async def _setup(tenant: Tenant) -> tuple[list[str], list[str], dict[str, dict[int, str]]]:
    agents, versions = [], {}
    for _ in range(AGENTS):
        agent, version = await tenant.published_agent()
        agents.append(agent["id"])
        versions[agent["id"]] = {1: version["id"]}
    numbers = [await tenant.register_number(unique_phone_number()) for _ in range(NUMBERS)]
    return agents, numbers, versions


async def _burst_until_killed(server: Process, tenant: Tenant, burst: Burst) -> float:
    """CONCURRENCY clients write until KILL_AFTER answers came back, then the server is killed
    with requests in flight. Returns when the kill happened (monotonic)."""
    answered, killed_at = 0, 0.0
    killed = asyncio.Event()

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal answered, killed_at
        while not killed.is_set():
            call = burst.plan()
            try:
                response = await burst.send(client, call)
            except httpx.TransportError:
                return  # the server died under this request: it stays unanswered
            burst.learn(call, response)
            answered += 1
            if answered >= KILL_AFTER and _deletes_answered(burst) and not killed.is_set():
                killed.set()
                server.kill()
                killed_at = time.monotonic()

    async with httpx.AsyncClient(
        base_url=server.url or "", headers=tenant.headers, timeout=30
    ) as client:
        await asyncio.wait_for(
            asyncio.gather(*(client_loop(client) for _ in range(CONCURRENCY))), timeout=60
        )
    return killed_at


def _deletes_answered(burst: Burst) -> bool:
    """The agent deletes were answered: on SQLite a delete can wait a while for the write lock
    behind the burst's other writers, and the kill must not always beat it."""
    deletes = [c for c in burst.calls if c.kind == "delete"]
    return len(deletes) == len(DELETE_AT) and all(c.status is not None for c in deletes)


async def test_api_killed_mid_burst_stays_consistent(
    tenant: Tenant, settings: Settings, database: Database, processes: Processes
) -> None:
    env = process_env(settings, CALLPLANE_IDEMPOTENCY_LOCK_SECONDS=str(LOCK_SECONDS))
    server = processes.server(env, "api")
    agents, numbers, versions = await _setup(tenant)
    burst = Burst(agents, numbers, versions)
    await server.wait_healthy()

    killed_at = await _burst_until_killed(server, tenant, burst)
    answered = [c for c in burst.calls if c.status is not None]
    unanswered = [c for c in burst.calls if c.status is None]
    assert len(answered) >= KILL_AFTER
    assert [c for c in answered if c.status >= 500] == [], server.tail()
    kinds = Counter(c.kind for c in answered if c.status < 300)
    assert kinds["create"] and kinds["publish"] and kinds["delete"], kinds  # the burst did work

    crashed = await invariants.snapshot(database, tenant.organization_id)
    assert crashed.conversations and any(p.inbound_agent_id for p in crashed.phones)
    assert invariants.violations(crashed, burst.deleted_drafts) == []

    server.restart()
    await server.wait_healthy()
    await asyncio.sleep(max(0.0, killed_at + LOCK_SECONDS + 0.2 - time.monotonic()))
    async with httpx.AsyncClient(base_url=server.url or "", headers=tenant.headers) as client:
        for call in unanswered:  # as a client would: the same request with the same key
            response = await burst.send(client, call)
            burst.learn(call, response)
            assert response.status_code < 500, (call, server.tail())
            if response.status_code == 409:  # a conflict of the request, not its key
                assert response.json()["code"] != "idempotency_key_in_flight", call
                call.response_lost = response.json()["code"] == "idempotency_key_response_lost"

        after = await invariants.snapshot(database, tenant.organization_id)
        assert invariants.violations(after, burst.deleted_drafts) == []
        # The restarted server serves what the database holds.
        listed = (await client.get("/core/agents", params={"limit": 100})).json()["data"]
        assert {a["id"] for a in listed} == {str(a) for a in after.agents}
        assert not {str(a) for a in after.agents} & set(agents[: len(DELETE_AT)])
        for agent_id in after.agents:
            detail = await client.get(f"/core/agents/{agent_id}")
            assert detail.status_code == 200, detail.text
            shown = sorted(v["version"] for v in detail.json()["versions"])
            assert shown == after.numbers(agent_id)

    assert _ran_twice(burst, after) == [], "retried requests ran again"


def _ran_twice(burst: Burst, data: invariants.Snapshot) -> list[str]:
    """Asserts each request did its work (all of it), and lists those that did it twice: the
    marker each create and import wrote must appear at most once."""
    instructions = Counter(str(v.config.get("instructions")) for v in data.versions)
    imported = Counter(str(c.metadata_.get("burst")) for c in data.conversations)
    gone = {uuid.UUID(a) for a in burst.agents} - set(data.agents)
    twice: list[str] = []
    for call in burst.calls:
        if call.kind == "create":
            made = instructions[f"burst {call.key}"]
            dropped = any(str(a) == call.agent for a, _ in burst.deleted_drafts)
            if call.done and not dropped and uuid.UUID(call.agent) not in gone:
                assert made >= 1, call
            if made > 1:
                twice.append(f"{call.key}: created {made} versions")
        if call.kind == "import":
            made = imported[call.key]
            assert made % 3 == 0 and made >= (3 if call.done else 0), (made, call)
            if made > 3 or (made and not call.done):
                twice.append(f"{call.key}: imported {made}, last answer {call.status}")
    return twice


# --- worker takeover ----------------------------------------------------------------------------


def _guard(settings: Settings, executor_id: str, recover: Any = lambda dead: 0) -> ExecutorGuard:
    return ExecutorGuard(
        system_database_url(settings),
        executor_id=executor_id,
        app_name="callplane",
        schema="dbos",
        interval=600,  # rounds are run by hand
        recover=recover,
    )


@postgres_only
def test_an_executor_id_is_held_by_one_live_process(settings: Settings) -> None:
    """The lock that proves a process alive: a second holder of the same id is refused, and the
    id is free again once the first lets go (as when its process dies)."""
    name = f"solo-{uuid.uuid4().hex[:8]}"
    first, second = _guard(settings, name), _guard(settings, name)
    first.acquire(wait_seconds=0)
    with pytest.raises(ExecutorIdInUse):
        second.acquire(wait_seconds=0.3)
    first.stop()
    second.acquire(wait_seconds=2)
    second.stop()


@postgres_only
async def test_racing_takers_recover_a_dead_executor_one_at_a_time(
    settings: Settings, database: Database
) -> None:
    """Four live processes look for dead ones at the same moment: the dead executor's recovery
    never runs twice at once (its lock admits one taker at a time), and a live executor's work
    (its lock held) is never touched. DBOS's recovery is itself idempotent on top of that."""
    suffix = uuid.uuid4().hex[:8]
    version, dead, alive = f"test-{suffix}", f"dead-{suffix}", f"alive-{suffix}"
    await _pending_rows(database, version, {f"wf-{dead}": dead, f"wf-{alive}": alive})
    recoveries: list[tuple[str, float, float]] = []

    def recover(executor_id: str) -> int:
        began = time.monotonic()
        time.sleep(0.1)
        recoveries.append((executor_id, began, time.monotonic()))
        return 1

    living = _guard(settings, alive)
    takers = [_guard(settings, f"taker-{n}-{suffix}", recover) for n in range(4)]
    try:
        for guard in [living, *takers]:
            guard.acquire(wait_seconds=0)
            guard.start(version)
        rounds = await asyncio.gather(*(asyncio.to_thread(t.take_over) for t in takers))
    finally:
        for guard in [living, *takers]:
            guard.stop()
        await _pending_rows(database, version, {})

    assert {executor for taken in rounds for executor in taken} == {dead}
    assert {executor for executor, _, _ in recoveries} == {dead}
    spans = sorted((began, ended) for _, began, ended in recoveries)
    assert all(ended <= began for (_, ended), (began, _) in itertools.pairwise(spans))


async def _pending_rows(database: Database, version: str, rows: dict[str, str]) -> None:
    """Replaces the PENDING workflow rows of an application version made up for one test (no
    real process runs that version, so only the test's own guards look at them)."""
    now = int(time.time() * 1000)
    async with database.session(write=True) as session, session.begin():
        await session.execute(
            text("DELETE FROM dbos.workflow_status WHERE application_version = :v"), {"v": version}
        )
        for workflow_id, executor_id in rows.items():
            await session.execute(
                text(
                    "INSERT INTO dbos.workflow_status (workflow_uuid, status, executor_id,"
                    " application_version, application_name, queue_name, created_at,"
                    " updated_at, priority) VALUES (:id, 'PENDING', :executor, :v, 'callplane',"
                    " 'nobody-listens', :now, :now, 0)"
                ),
                {"id": workflow_id, "executor": executor_id, "v": version, "now": now},
            )


@postgres_only
async def test_survivor_takes_over_a_dead_workers_workflow(
    tenant: Tenant,
    settings: Settings,
    database: Database,
    serve: Serve,
    hanging_llm: StubLLMServer,
    processes: Processes,
) -> None:
    site = serve(dental_site())
    suffix = uuid.uuid4().hex[:8]
    env = process_env(
        settings,
        CALLPLANE_WORKFLOW_QUEUE=f"takeover-{suffix}",  # the in-process app never runs this work
        CALLPLANE_WORKFLOW_TAKEOVER_INTERVAL_SECONDS="0.5",
        CALLPLANE_LLM_BASE_URL=hanging_llm.base_url,
        CALLPLANE_LLM_TIMEOUT_SECONDS="60",
        CALLPLANE_CRAWLER_ALLOW_PRIVATE_NETWORKS="true",
    )
    api = processes.server(env, "api")
    # Two workers on the queue, each with its own executor id: whichever takes the workflow dies.
    workers = {
        f"{n}-{suffix}": processes.worker(
            env | {"CALLPLANE_WORKFLOW_EXECUTOR_ID": f"{n}-{suffix}"}, n
        )
        for n in ("a", "b")
    }
    await asyncio.gather(api.wait_healthy(), *(w.wait_worker_started() for w in workers.values()))

    async with httpx.AsyncClient(base_url=api.url or "", headers=tenant.headers) as client:
        started = await client.post(
            "/core/agents/create-from-website",
            json={"company_name": "Acme Dental", "company_website": site.url},
        )
        assert started.status_code == 202, started.text
        workflow_id = started.json()["workflow_id"]
        await api.wait_for(lambda: len(hanging_llm.requests) == 1, "the write step to start")
        victim = await executor_of(database, workflow_id)
        assert victim in workers
        (survivor,) = set(workers) - {victim}

        hanging_llm.behaviour.hang = False
        workers[victim].kill()  # and never restarted
        killed = time.monotonic()
        while await executor_of(database, workflow_id) != survivor:
            assert time.monotonic() - killed < 20, workers[survivor].tail()
            await asyncio.sleep(0.05)
        takeover_seconds = time.monotonic() - killed

        run = await finished_run(client, workflow_id)
        agents = (await client.get("/core/agents")).json()["data"]

    print(f"takeover: {takeover_seconds:.2f} s from kill -9 to the survivor owning the workflow")
    assert run["status"] == "succeeded", (run, workers[survivor].tail())
    assert await executor_of(database, workflow_id) == survivor
    assert run["attempts"] == 2
    assert site.page_hits()["/"] == 1  # the finished crawl step was not run again
    assert len(hanging_llm.requests) == 2  # only the unfinished write step was
    assert [a["id"] for a in agents] == [run["result"]["agent_id"]]
    assert takeover_seconds < 5  # the survivor looks every 0.5 s

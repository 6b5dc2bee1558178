"""The migration tree: it matches the models, goes down and up again, and backfills data."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callplane.db import migrate
from callplane.db.engine import create_engine
from callplane.webhooks import sender


@pytest.fixture
def scratch_url(tmp_path: Path, database_url: str) -> Iterator[str]:
    """An empty database of the suite's kind (a server beside the suite's database), used by
    this test alone."""
    base = make_url(database_url)
    if base.get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    name = f"callplane_migrations_{uuid.uuid4().hex[:8]}"
    admin = base.set(database="postgres").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        engine = create_engine(admin, pool_size=0)
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(sql))
        await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        engine = create_engine(url, pool_size=0)
        rows: list[tuple[object, ...]] = []
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows = [tuple(row) for row in result]
        await engine.dispose()
        return rows

    return asyncio.run(run())


def test_models_match_and_the_tree_goes_down_and_up(scratch_url: str) -> None:
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "head")
    command.check(config)  # raises if the models and the migrations disagree
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    assert execute(scratch_url, "SELECT count(*) FROM agents") == [(0,)]


def test_conversation_stats_are_backfilled(scratch_url: str) -> None:
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0002")
    org, agent = uuid.uuid4(), uuid.uuid4()
    hex_or_uuid = (lambda u: u.hex) if scratch_url.startswith("sqlite") else str
    rows = [("completed", "telephone", 60), ("completed", "telephone", None), ("failed", "sms", 5)]
    execute(
        scratch_url,
        f"INSERT INTO organizations (id, name, created_at, updated_at) "
        f"VALUES ('{hex_or_uuid(org)}', 'o', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        *(
            "INSERT INTO conversations (id, organization_id, agent_id, channel, status, "
            "duration_seconds, metadata, created_at, updated_at) VALUES "
            f"('{hex_or_uuid(uuid.uuid4())}', '{hex_or_uuid(org)}', '{hex_or_uuid(agent)}', "
            f"'{channel}', '{status}', {duration if duration is not None else 'NULL'}, '{{}}', "
            f"'2026-01-0{i + 1} 00:00:00', '2026-01-01 00:00:00')"
            for i, (status, channel, duration) in enumerate(rows)
        ),
    )
    command.upgrade(config, "head")
    stats = execute(
        scratch_url,
        "SELECT status, channel, conversations, duration_total, durations_counted "
        "FROM agent_conversation_stats ORDER BY status",
    )
    assert stats == [("completed", "telephone", 2, 60.0, 1), ("failed", "sms", 1, 5.0, 1)]


def test_webhook_secrets_become_standard_webhooks_secrets_of_the_same_key(
    scratch_url: str,
) -> None:
    """0008: a secret issued before Standard Webhooks (its characters were the HMAC key) is
    rewritten as `whsec_` + base64 of that same key, so receivers convert instead of rotating."""
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0007")
    org, webhook = uuid.uuid4(), uuid.uuid4()
    hex_or_uuid = (lambda u: u.hex) if scratch_url.startswith("sqlite") else str
    old = "whsec_Jx0-old_secret_token_urlsafe_43_characters_"
    execute(
        scratch_url,
        f"INSERT INTO organizations (id, name, created_at, updated_at) "
        f"VALUES ('{hex_or_uuid(org)}', 'o', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "INSERT INTO webhooks (id, organization_id, url, events, active, secret, created_at, "
        f"updated_at) VALUES ('{hex_or_uuid(webhook)}', '{hex_or_uuid(org)}', "
        f"'https://example.com/hook', '[\"*\"]', true, '{old}', '2026-01-01 00:00:00', "
        "'2026-01-01 00:00:00')",
    )
    command.upgrade(config, "0008")
    [(secret,)] = execute(scratch_url, "SELECT secret FROM webhooks")
    assert secret == "whsec_" + base64.b64encode(old.encode()).decode()
    assert sender.signing_key(str(secret)) == old.encode()  # the key the old scheme used
    command.downgrade(config, "0007")
    assert execute(scratch_url, "SELECT secret FROM webhooks") == [(old,)]


def test_idempotency_records_become_per_credential(scratch_url: str) -> None:
    """0010: the old per-organization records cannot name their credential and are dropped;
    afterwards two credentials may hold records under one key. The downgrade drops them again."""
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0009")
    hex_or_uuid = (lambda u: u.hex) if scratch_url.startswith("sqlite") else str
    org = hex_or_uuid(uuid.uuid4())
    blob = "x'00'" if scratch_url.startswith("sqlite") else "'\\x00'::bytea"
    execute(
        scratch_url,
        f"INSERT INTO organizations (id, name, created_at, updated_at) "
        f"VALUES ('{org}', 'o', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "INSERT INTO idempotency_keys (organization_id, key, request_hash, locked_until, "
        f"created_at) VALUES ('{org}', 'k', {blob}, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    )
    command.upgrade(config, "0010")
    assert execute(scratch_url, "SELECT count(*) FROM idempotency_keys") == [(0,)]
    execute(
        scratch_url,
        *(
            "INSERT INTO idempotency_keys (organization_id, credential_id, key, request_hash, "
            f"locked_until, created_at) VALUES ('{org}', '{hex_or_uuid(uuid.uuid4())}', 'k', "
            f"{blob}, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            for _ in range(2)
        ),
    )
    assert execute(scratch_url, "SELECT count(*) FROM idempotency_keys") == [(2,)]
    command.downgrade(config, "0009")
    assert execute(scratch_url, "SELECT count(*) FROM idempotency_keys") == [(0,)]


def test_head_revision_without_alembic_is_alembics() -> None:
    """`/ready` reads the newest revision from the migration files without importing Alembic
    (db/migrate.py); it must be the head Alembic itself finds."""
    from alembic.script import ScriptDirectory

    from callplane.db import migrate

    expected = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    assert migrate.head_revision() == expected is not None


def test_conversation_rollups_are_backfilled(scratch_url: str) -> None:
    """rollups: the hourly and daily rollups and duration histogram are built from the rows
    already there (conversations without an agent, a start or an ended reason included), and
    the triggers count what is written afterwards."""
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0016")
    hex_or_uuid = (lambda u: u.hex) if scratch_url.startswith("sqlite") else str
    org, agent = hex_or_uuid(uuid.uuid4()), hex_or_uuid(uuid.uuid4())
    columns = (
        "id, organization_id, agent_id, channel, status, duration_seconds, started_at, "
        "ended_reason, successful, tool_call_count, metadata, created_at, updated_at"
    )
    rows = [
        f"'{agent}', 'telephone', 'completed', 60.7, '2026-01-01 10:30:00', 'hangup', true, 2",
        f"'{agent}', 'telephone', 'completed', 61.2, '2026-01-01 10:59:59', 'hangup', false, 1",
        "NULL, 'sms', 'failed', NULL, NULL, NULL, NULL, NULL",
    ]
    execute(
        scratch_url,
        f"INSERT INTO organizations (id, name, created_at, updated_at) "
        f"VALUES ('{org}', 'o', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        *(
            f"INSERT INTO conversations ({columns}) VALUES ('{hex_or_uuid(uuid.uuid4())}', "
            f"'{org}', {row}, '{{}}', '2026-01-02 00:00:00', '2026-01-02 00:00:00')"
            for row in rows
        ),
    )
    command.upgrade(config, "head")
    hour = 490_906  # 2026-01-01T10:00Z in hours since 1970
    query = (
        "SELECT grain, period, status, ended_reason, total, evaluated, successful, tool_calls,"
        " timed, duration_sum FROM conversation_rollups ORDER BY grain, period"
    )
    assert execute(scratch_url, query) == [
        (1, hour, "completed", "hangup", 2, 2, 1, 3, 2, pytest.approx(121.9)),
        (1, hour + 14, "failed", "", 1, 0, 0, 0, 0, 0.0),
        (24, hour // 24, "completed", "hangup", 2, 2, 1, 3, 2, pytest.approx(121.9)),
        (24, hour // 24 + 1, "failed", "", 1, 0, 0, 0, 0, 0.0),
    ]
    histogram = "SELECT grain, period, second, n FROM conversation_duration_rollups ORDER BY 1, 3"
    assert execute(scratch_url, histogram) == [
        (1, hour, 60, 1),
        (1, hour, 61, 1),
        (24, hour // 24, 60, 1),
        (24, hour // 24, 61, 1),
    ]
    execute(scratch_url, "UPDATE conversations SET duration_seconds = 5.5 WHERE channel = 'sms'")
    assert execute(scratch_url, histogram)[0] == (1, hour + 14, 5, 1)


def test_agent_conversation_summaries_are_backfilled_and_dropped(scratch_url: str) -> None:
    """detailstats: each agent's running totals are added up into one summary row (maps of
    counts, durations, the latest time); afterwards the triggers follow any change to them; the
    downgrade drops the table and its triggers."""
    config = migrate.alembic_config(scratch_url)
    command.upgrade(config, "0021")
    hex_or_uuid = (lambda u: u.hex) if scratch_url.startswith("sqlite") else str
    org, agent, quiet = (hex_or_uuid(uuid.uuid4()) for _ in range(3))
    rows = [
        f"'{agent}', 'completed', 'telephone', 2, 60.5, 2, '2026-01-03 10:00:00'",
        f"'{agent}', 'failed', 'sms', 1, 0.0, 0, '2026-01-04 10:00:00'",
        f"'{agent}', 'completed', 'sms', 3, 9.5, 1, '2026-01-02 10:00:00'",
        f"'{quiet}', 'missed', 'telephone', 1, 0.0, 0, NULL",
    ]
    execute(
        scratch_url,
        f"INSERT INTO organizations (id, name, created_at, updated_at) "
        f"VALUES ('{org}', 'o', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        *(
            "INSERT INTO agent_conversation_stats (agent_id, status, channel, conversations, "
            "duration_total, durations_counted, last_conversation_at, organization_id) "
            f"VALUES ({row}, '{org}')"
            for row in rows
        ),
    )
    command.upgrade(config, "head")
    query = (
        "SELECT total, by_status, by_channel, duration_total, durations_counted, "
        "last_conversation_at IS NULL FROM agent_conversation_summaries ORDER BY total DESC"
    )

    def summaries() -> list[tuple[object, ...]]:
        return [
            tuple(json.loads(v) if isinstance(v, str) and v.startswith("{") else v for v in row)
            for row in execute(scratch_url, query)
        ]

    assert summaries() == [
        (6, {"completed": 5, "failed": 1}, {"sms": 4, "telephone": 2}, 70.0, 3, False),
        (1, {"missed": 1}, {"telephone": 1}, 0.0, 0, True),
    ]
    execute(scratch_url, f"DELETE FROM agent_conversation_stats WHERE agent_id = '{quiet}'")
    assert summaries()[1] == (0, {}, {}, 0.0, 0, True)
    command.downgrade(config, "0021")
    execute(scratch_url, f"DELETE FROM agent_conversation_stats WHERE agent_id = '{agent}'")
    command.upgrade(config, "head")
    assert summaries() == []


def test_the_alembic_config_writes_to_the_current_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not to the sys.stdout of alembic.config's first import: in-process `callplane migrate`
    (CliRunner) may have imported it while stdout was a stream it closed since."""
    import io
    import sys

    from alembic.config import Config  # imported (if not already) under this moment's stdout

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    config = migrate.alembic_config(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert isinstance(config, Config)
    config.print_stdout("said")
    assert out.getvalue() == "said\n"

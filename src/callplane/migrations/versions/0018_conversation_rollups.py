"""conversation rollups: what analytics count, per hour and per day, kept by triggers

- `conversation_rollups`: counts and sums per (organization, grain, agent, period, version,
  status, channel, ended reason), `grain` 1 (UTC hours) and 24 (UTC days);
- `conversation_duration_rollups`: conversations per whole second of duration, same keys;
- triggers on `conversations` that keep both in the transaction of every insert, update of a
  counted column and delete (PostgreSQL: one PL/pgSQL function; SQLite: one trigger per event);
- both backfilled from the existing conversations;
- `ix_conversations_analytics_org`: an organization's conversations by when they happened
  (analytics without an agent read raw rows only at the edges of a range, by this index).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What a conversation's contribution depends on: a change to any of these moves it.
COUNTED = (
    "organization_id",
    "agent_id",
    "agent_version_id",
    "started_at",
    "created_at",
    "status",
    "channel",
    "ended_reason",
    "successful",
    "tool_call_count",
    "duration_seconds",
)
_KEYS = "organization_id, grain, period, agent_key, version_key"  # as the SELECTs list them
_COUNT_KEY = f"{_KEYS}, status, channel, ended_reason"
_SUMS = ("total", "evaluated", "successful", "tool_calls", "timed", "duration_sum")
_COUNT_COLUMNS = f"{_COUNT_KEY}, {', '.join(_SUMS)}"
_ADD_SUMS = ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _SUMS)
# SQLite takes no alias for the target table in a trigger: a bare column is the stored row's.
_SQLITE_ADD_SUMS = ", ".join(f"{c} = {c} + excluded.{c}" for c in _SUMS)
_HIST_KEY = f"{_KEYS}, second"

# --- PostgreSQL ------------------------------------------------------------------------------


def _clamped(moment: str) -> str:
    """`moment` within year 1 to year 9999: asyncpg stores Python's `datetime.min` and
    `datetime.max` (an import from year 1 or to the end of year 9999) as -infinity and infinity,
    whose epoch no bigint period holds; they count at the first or the last representable
    instant, where they sort."""
    return (
        f"least(greatest({moment}, '0001-01-01 00:00:00+00'::timestamptz), "
        "'9999-12-31 23:59:59.999999+00'::timestamptz)"
    )


PG_APPLY = f"""
CREATE FUNCTION conversation_rollups_apply(
    o uuid, a uuid, v uuid, happened timestamptz, st text, ch text, reason text,
    ok boolean, tools integer, d double precision, sign integer
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    epoch double precision := extract(epoch FROM {_clamped("happened")});
    ak uuid := coalesce(a, '00000000-0000-0000-0000-000000000000');
    vk uuid := coalesce(v, '00000000-0000-0000-0000-000000000000');
BEGIN
    INSERT INTO conversation_rollups AS r ({_COUNT_COLUMNS})
    SELECT o, g.grain, floor(epoch / (3600 * g.grain))::bigint, ak, vk, st, ch,
        coalesce(reason, ''), sign, CASE WHEN ok IS NULL THEN 0 ELSE sign END,
        CASE WHEN ok THEN sign ELSE 0 END, sign * coalesce(tools, 0),
        CASE WHEN d IS NULL THEN 0 ELSE sign END, sign * coalesce(d, 0)
    FROM (VALUES (1::smallint), (24::smallint)) AS g (grain)
    ON CONFLICT ({_COUNT_KEY}) DO UPDATE SET {_ADD_SUMS};
    IF d IS NOT NULL THEN
        INSERT INTO conversation_duration_rollups AS r ({_HIST_KEY}, n)
        SELECT o, g.grain, floor(epoch / (3600 * g.grain))::bigint, ak, vk, floor(d)::bigint,
            sign
        FROM (VALUES (1::smallint), (24::smallint)) AS g (grain)
        ON CONFLICT ({_HIST_KEY}) DO UPDATE SET n = r.n + excluded.n;
    END IF;
END $$
"""

PG_TRIGGER_FUNCTION = """
CREATE FUNCTION conversation_rollups_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (
        SELECT 1 FROM organizations WHERE id = OLD.organization_id
    ) THEN
        RETURN NULL;  -- the organization's deletion cascades: its rollups go with it
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM conversation_rollups_apply(OLD.organization_id, OLD.agent_id,
            OLD.agent_version_id, coalesce(OLD.started_at, OLD.created_at), OLD.status,
            OLD.channel, OLD.ended_reason, OLD.successful, OLD.tool_call_count,
            OLD.duration_seconds, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM conversation_rollups_apply(NEW.organization_id, NEW.agent_id,
            NEW.agent_version_id, coalesce(NEW.started_at, NEW.created_at), NEW.status,
            NEW.channel, NEW.ended_reason, NEW.successful, NEW.tool_call_count,
            NEW.duration_seconds, 1);
    END IF;
    RETURN NULL;
END $$
"""

PG_INSERT_DELETE = """
CREATE TRIGGER conversation_rollups_insert_delete AFTER INSERT OR DELETE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_rollups_trigger()
"""

PG_UPDATE = f"""
CREATE TRIGGER conversation_rollups_update AFTER UPDATE OF {", ".join(COUNTED)} ON conversations
    FOR EACH ROW WHEN (
        ({", ".join(f"OLD.{c}" for c in COUNTED)})
        IS DISTINCT FROM ({", ".join(f"NEW.{c}" for c in COUNTED)})
    ) EXECUTE FUNCTION conversation_rollups_trigger()
"""
PG_CREATE = (PG_APPLY, PG_TRIGGER_FUNCTION, PG_INSERT_DELETE, PG_UPDATE)
PG_DROP = (
    "DROP TRIGGER IF EXISTS conversation_rollups_update ON conversations",
    "DROP TRIGGER IF EXISTS conversation_rollups_insert_delete ON conversations",
    "DROP FUNCTION IF EXISTS conversation_rollups_trigger()",
    "DROP FUNCTION IF EXISTS conversation_rollups_apply(uuid, uuid, uuid, timestamptz, text,"
    " text, text, boolean, integer, double precision, integer)",
)

PG_PERIOD = (
    f"floor(extract(epoch FROM {_clamped('coalesce(c.started_at, c.created_at)')}) "
    "/ (3600 * g.grain))"
)
PG_NO_ID = "'00000000-0000-0000-0000-000000000000'::uuid"
PG_GRAINS = "(VALUES (1::smallint), (24::smallint)) AS g (grain)"

# --- SQLite ----------------------------------------------------------------------------------
# Uuids are 32 hex digits there; unixepoch() is whole seconds; `(e - ((e % s) + s) % s) / s`
# is floor(e / s) for negative times too (SQLite's % and / truncate).

SQLITE_NO_ID = "'" + "0" * 32 + "'"
SQLITE_GRAINS = "(SELECT 1 AS grain, 3600 AS s UNION ALL SELECT 24, 86400) AS g"


def _sqlite_period(epoch: str) -> str:
    return f"(({epoch}) - ((({epoch}) % g.s) + g.s) % g.s) / g.s"


def _sqlite_apply(row: str, sign: str, guard: str) -> str:
    epoch = f"unixepoch(coalesce({row}.started_at, {row}.created_at))"
    period = _sqlite_period(epoch)
    return f"""
    INSERT INTO conversation_rollups ({_COUNT_COLUMNS})
    SELECT {row}.organization_id, g.grain, {period},
        coalesce({row}.agent_id, {SQLITE_NO_ID}), coalesce({row}.agent_version_id, {SQLITE_NO_ID}),
        {row}.status, {row}.channel, coalesce({row}.ended_reason, ''), {sign},
        CASE WHEN {row}.successful IS NULL THEN 0 ELSE {sign} END,
        CASE WHEN {row}.successful THEN {sign} ELSE 0 END,
        {sign} * coalesce({row}.tool_call_count, 0),
        CASE WHEN {row}.duration_seconds IS NULL THEN 0 ELSE {sign} END,
        {sign} * coalesce({row}.duration_seconds, 0.0)
    FROM {SQLITE_GRAINS} WHERE {guard}
    ON CONFLICT ({_COUNT_KEY}) DO UPDATE SET {_SQLITE_ADD_SUMS};
    INSERT INTO conversation_duration_rollups ({_HIST_KEY}, n)
    SELECT {row}.organization_id, g.grain, {period},
        coalesce({row}.agent_id, {SQLITE_NO_ID}), coalesce({row}.agent_version_id, {SQLITE_NO_ID}),
        CAST({row}.duration_seconds AS INTEGER), {sign}
    FROM {SQLITE_GRAINS} WHERE {guard} AND {row}.duration_seconds IS NOT NULL
    ON CONFLICT ({_HIST_KEY}) DO UPDATE SET n = n + excluded.n;"""


_SQLITE_EXISTS = "EXISTS (SELECT 1 FROM organizations WHERE id = OLD.organization_id)"
SQLITE_TRIGGERS = (
    "CREATE TRIGGER conversation_rollups_insert AFTER INSERT ON conversations BEGIN"
    + _sqlite_apply("NEW", "1", "1")
    + "\nEND",
    "CREATE TRIGGER conversation_rollups_delete AFTER DELETE ON conversations BEGIN"
    + _sqlite_apply("OLD", "-1", _SQLITE_EXISTS)
    + "\nEND",
    f"CREATE TRIGGER conversation_rollups_update AFTER UPDATE OF {', '.join(COUNTED)}"
    " ON conversations WHEN "
    + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COUNTED)
    + " BEGIN"
    + _sqlite_apply("OLD", "-1", "1")
    + _sqlite_apply("NEW", "1", "1")
    + "\nEND",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS conversation_rollups_insert",
    "DROP TRIGGER IF EXISTS conversation_rollups_delete",
    "DROP TRIGGER IF EXISTS conversation_rollups_update",
)


def backfill_statements(dialect: str) -> list[str]:
    """Rebuild both rollups from `conversations` (the migration's backfill; the analytics
    benchmark seeds its million rows with the same statements)."""
    if dialect == "postgresql":
        period, no_id, grains, second = PG_PERIOD, PG_NO_ID, PG_GRAINS, "floor(duration_seconds)"
    else:
        epoch = "unixepoch(coalesce(c.started_at, c.created_at))"
        period, no_id, grains = _sqlite_period(epoch), SQLITE_NO_ID, SQLITE_GRAINS
        second = "CAST(duration_seconds AS INTEGER)"
    keys = (
        f"organization_id, g.grain, {period}, coalesce(agent_id, {no_id}),"
        f" coalesce(agent_version_id, {no_id})"
    )
    return [
        "DELETE FROM conversation_rollups",
        "DELETE FROM conversation_duration_rollups",
        f"INSERT INTO conversation_rollups ({_COUNT_COLUMNS})"
        f" SELECT {keys}, status, channel, coalesce(ended_reason, ''), count(*),"
        " count(successful), sum(CASE WHEN successful THEN 1 ELSE 0 END),"
        " coalesce(sum(tool_call_count), 0), count(duration_seconds),"
        " coalesce(sum(duration_seconds), 0.0)"
        f" FROM conversations AS c CROSS JOIN {grains}"
        f" GROUP BY {keys}, status, channel, coalesce(ended_reason, '')",
        f"INSERT INTO conversation_duration_rollups ({_HIST_KEY}, n)"
        f" SELECT {keys}, {second}, count(*)"
        f" FROM conversations AS c CROSS JOIN {grains}"
        " WHERE duration_seconds IS NOT NULL"
        f" GROUP BY {keys}, {second}",
    ]


def _keys() -> list[sa.Column[object]]:
    return [
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("grain", sa.SmallInteger(), nullable=False),
        sa.Column("agent_key", sa.Uuid(), nullable=False),
        sa.Column("period", sa.BigInteger(), nullable=False),
        sa.Column("version_key", sa.Uuid(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "conversation_rollups",
        *_keys(),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("ended_reason", sa.String(length=40), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("successful", sa.Integer(), nullable=False),
        sa.Column("tool_calls", sa.BigInteger(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_conversation_rollups_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "grain",
            "agent_key",
            "period",
            "version_key",
            "status",
            "channel",
            "ended_reason",
            name=op.f("pk_conversation_rollups"),
            postgresql_include=list(_SUMS),
        ),
    )
    # PostgreSQL: the indexes carry the values (index-only scans; see the model).
    op.create_index(
        "ix_conversation_rollups_period",
        "conversation_rollups",
        ["organization_id", "grain", "period"],
        postgresql_include=[
            "agent_key",
            "version_key",
            "status",
            "channel",
            "ended_reason",
            *_SUMS,
        ],
    )
    op.create_table(
        "conversation_duration_rollups",
        *_keys(),
        sa.Column("second", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_conversation_duration_rollups_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "organization_id",
            "grain",
            "agent_key",
            "period",
            "version_key",
            "second",
            name=op.f("pk_conversation_duration_rollups"),
            postgresql_include=["n"],
        ),
    )
    op.create_index(
        "ix_conversation_duration_rollups_period",
        "conversation_duration_rollups",
        ["organization_id", "grain", "period"],
        postgresql_include=["agent_key", "version_key", "second", "n"],
    )
    op.execute(
        "CREATE INDEX ix_conversations_analytics_org ON conversations "
        "(organization_id, coalesce(started_at, created_at))"
    )
    dialect = op.get_bind().dialect.name
    for statement in PG_CREATE if dialect == "postgresql" else SQLITE_TRIGGERS:
        op.execute(statement)
    for statement in backfill_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DROP if postgres else SQLITE_DROP:
        op.execute(statement)
    op.execute("DROP INDEX ix_conversations_analytics_org")
    op.drop_index("ix_conversation_duration_rollups_period", "conversation_duration_rollups")
    op.drop_table("conversation_duration_rollups")
    op.drop_index("ix_conversation_rollups_period", "conversation_rollups")
    op.drop_table("conversation_rollups")

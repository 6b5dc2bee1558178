"""agent conversation summaries: one row per agent, kept by triggers, read by the agent detail

`agent_conversation_stats` holds an agent's totals per (status, channel); the agent detail summed
them, grouped them twice and built two JSON maps on every read (~45 µs of its ~130 µs statement
on PostgreSQL). `agent_conversation_summaries` holds the result, one row per agent, rebuilt from
the agent's stats rows by a trigger on every insert, update and delete of them (PostgreSQL:
PL/pgSQL functions; SQLite: one trigger per event), so every writer of the stats keeps it, in
the same transaction. On PostgreSQL the summary row is locked before it is recounted, and
before the totals' rows are (see PG_BEFORE_FUNCTION): concurrent writers of one agent neither
lose each other's changes nor deadlock. The detail reads it by primary key. Backfilled by
touching every stats row.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 04:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from callplane.db.types import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "agent_id, organization_id, total, by_status, by_channel, duration_total, "
    "durations_counted, last_conversation_at"
)
_REPLACE = ", ".join(
    f"{c} = excluded.{c}"
    for c in (
        "total",
        "by_status",
        "by_channel",
        "duration_total",
        "durations_counted",
        "last_conversation_at",
    )
)

# --- PostgreSQL ------------------------------------------------------------------------------

PG_LOCK = f"""
CREATE FUNCTION agent_conversation_summary_lock(o uuid, a uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM organizations WHERE id = o) THEN
        RETURN false;  -- the organization's deletion cascades: its summaries go with it
    END IF;
    INSERT INTO agent_conversation_summaries ({_COLUMNS})
    VALUES (a, o, 0, '{{}}', '{{}}', 0, 0, NULL) ON CONFLICT (agent_id) DO NOTHING;
    PERFORM 1 FROM agent_conversation_summaries WHERE agent_id = a FOR UPDATE;
    RETURN true;
END $$
"""

# The recount runs after the lock, in a statement of its own: under READ COMMITTED it then sees
# every total committed by the writers the lock waited for (one statement that both added up
# and upserted would add up from before the wait and lose their changes).
PG_REFRESH = """
CREATE FUNCTION agent_conversation_summary_refresh(o uuid, a uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT agent_conversation_summary_lock(o, a) THEN
        RETURN;
    END IF;
    UPDATE agent_conversation_summaries SET (total, by_status, by_channel, duration_total,
        durations_counted, last_conversation_at) = (
        SELECT coalesce(sum(conversations), 0),
            coalesce((SELECT json_object_agg(status, n) FROM (
                SELECT status, sum(conversations) AS n FROM agent_conversation_stats
                WHERE agent_id = a GROUP BY status) g), '{}'::json),
            coalesce((SELECT json_object_agg(channel, n) FROM (
                SELECT channel, sum(conversations) AS n FROM agent_conversation_stats
                WHERE agent_id = a GROUP BY channel) g), '{}'::json),
            coalesce(sum(duration_total), 0), coalesce(sum(durations_counted), 0),
            max(last_conversation_at)
        FROM agent_conversation_stats WHERE agent_id = a)
    WHERE agent_id = a;
END $$
"""

# Lock order: the agent's summary row before any of its totals' rows. An insert (or upsert) of
# the totals takes the summary's lock in a BEFORE trigger, before its own row is locked; the
# service's writers only ever insert or upsert first (`ConversationRepository.uncount` is an
# upsert for this reason), so two transactions of one agent cannot each hold a row the other
# waits for.
PG_BEFORE_FUNCTION = """
CREATE FUNCTION agent_conversation_summary_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM agent_conversation_summary_lock(NEW.organization_id, NEW.agent_id);
    RETURN NEW;
END $$
"""

PG_TRIGGER_FUNCTION = """
CREATE FUNCTION agent_conversation_summary_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.agent_id <> NEW.agent_id) THEN
        PERFORM agent_conversation_summary_refresh(OLD.organization_id, OLD.agent_id);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM agent_conversation_summary_refresh(NEW.organization_id, NEW.agent_id);
    END IF;
    RETURN NULL;
END $$
"""

PG_BEFORE = """
CREATE TRIGGER agent_conversation_summary_lock BEFORE INSERT ON agent_conversation_stats
    FOR EACH ROW EXECUTE FUNCTION agent_conversation_summary_before()
"""
PG_TRIGGER = """
CREATE TRIGGER agent_conversation_summary AFTER INSERT OR UPDATE OR DELETE
    ON agent_conversation_stats FOR EACH ROW EXECUTE FUNCTION agent_conversation_summary_trigger()
"""
PG_CREATE = (PG_LOCK, PG_REFRESH, PG_BEFORE_FUNCTION, PG_TRIGGER_FUNCTION, PG_BEFORE, PG_TRIGGER)
PG_DROP = (
    "DROP TRIGGER IF EXISTS agent_conversation_summary ON agent_conversation_stats",
    "DROP TRIGGER IF EXISTS agent_conversation_summary_lock ON agent_conversation_stats",
    "DROP FUNCTION IF EXISTS agent_conversation_summary_trigger()",
    "DROP FUNCTION IF EXISTS agent_conversation_summary_before()",
    "DROP FUNCTION IF EXISTS agent_conversation_summary_refresh(uuid, uuid)",
    "DROP FUNCTION IF EXISTS agent_conversation_summary_lock(uuid, uuid)",
)

# --- SQLite ----------------------------------------------------------------------------------
# One writer at a time: no lock to order. Durations are summed in rowid order (the order in
# which the stats rows were first written); the outer SELECT carries the guard (an aggregate
# without GROUP BY yields its row even when its own WHERE is false) and the WHERE SQLite's
# upsert needs after a SELECT.


def _sqlite_refresh(row: str, guard: str) -> str:
    def by(key: str) -> str:
        return (
            f"coalesce((SELECT json_group_object({key}, n) FROM ("
            f"SELECT {key}, sum(conversations) AS n FROM agent_conversation_stats "
            f"WHERE agent_id = {row}.agent_id GROUP BY {key})), '{{}}')"
        )

    return f"""
    INSERT INTO agent_conversation_summaries ({_COLUMNS})
    SELECT * FROM (
        SELECT {row}.agent_id, {row}.organization_id, coalesce(sum(s.conversations), 0),
            {by("status")}, {by("channel")}, coalesce(sum(s.duration_total), 0.0),
            coalesce(sum(s.durations_counted), 0), max(s.last_conversation_at)
        FROM (SELECT conversations, duration_total, durations_counted, last_conversation_at
            FROM agent_conversation_stats WHERE agent_id = {row}.agent_id ORDER BY rowid) AS s
    ) WHERE {guard}
    ON CONFLICT (agent_id) DO UPDATE SET {_REPLACE};"""


SQLITE_TRIGGERS = (
    "CREATE TRIGGER agent_conversation_summary_insert AFTER INSERT ON agent_conversation_stats"
    " BEGIN" + _sqlite_refresh("NEW", "1") + "\nEND",
    "CREATE TRIGGER agent_conversation_summary_update AFTER UPDATE ON agent_conversation_stats"
    " BEGIN"
    + _sqlite_refresh("OLD", "OLD.agent_id IS NOT NEW.agent_id")
    + _sqlite_refresh("NEW", "1")
    + "\nEND",
    "CREATE TRIGGER agent_conversation_summary_delete AFTER DELETE ON agent_conversation_stats"
    " BEGIN"
    + _sqlite_refresh("OLD", "EXISTS (SELECT 1 FROM organizations WHERE id = OLD.organization_id)")
    + "\nEND",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS agent_conversation_summary_insert",
    "DROP TRIGGER IF EXISTS agent_conversation_summary_update",
    "DROP TRIGGER IF EXISTS agent_conversation_summary_delete",
)


def upgrade() -> None:
    op.create_table(
        "agent_conversation_summaries",
        sa.Column("agent_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("by_status", sa.JSON(), nullable=False),
        sa.Column("by_channel", sa.JSON(), nullable=False),
        sa.Column("duration_total", sa.Float(), nullable=False),
        sa.Column("durations_counted", sa.Integer(), nullable=False),
        sa.Column("last_conversation_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_agent_conversation_summaries_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_agent_conversation_summaries")),
    )
    op.create_index(
        op.f("ix_agent_conversation_summaries_organization_id"),
        "agent_conversation_summaries",
        ["organization_id"],
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_CREATE if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    # Backfill: touching every stats row runs the triggers above for every agent.
    op.execute("UPDATE agent_conversation_stats SET conversations = conversations")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DROP if postgres else SQLITE_DROP:
        op.execute(statement)
    op.drop_index(
        op.f("ix_agent_conversation_summaries_organization_id"), "agent_conversation_summaries"
    )
    op.drop_table("agent_conversation_summaries")

"""The agent detail document built by the database in one statement (PostgreSQL and SQLite).

`GET /core/agents/{id}` is the hottest read. Assembled in Python it costs six round trips and as
many ORM result-processing passes; here PostgreSQL assembles the JSON and the server passes the
bytes through. The shape must stay identical to `AgentDetail`: tests/agents/test_detail_documents.py
compares each dialect's document with the Python assembly (`AgentService.assemble_detail`).
"""

from __future__ import annotations

import uuid

from callplane.db import dialect
from callplane.db.engine import Database

_PHONE = """json_build_object(
    'phone_number', p.phone_number, 'label', p.label, 'outbound_shareable', p.outbound_shareable,
    'inbound_agent_id', p.inbound_agent_id, 'inbound_agent_version_id', p.inbound_agent_version_id,
    'inbound_version', p.inbound_version, 'outbound_agent_id', p.outbound_agent_id,
    'outbound_agent_version_id', p.outbound_agent_version_id,
    'outbound_version', p.outbound_version,
    'created_at', cp_iso(p.created_at), 'updated_at', cp_iso(p.updated_at))"""

_VERSION = """json_build_object(
    'id', v.id, 'version', v.version, 'published', v.published,
    'published_at', cp_iso(v.published_at), 'instructions_status', v.instructions_status,
    'created_at', cp_iso(v.created_at), 'updated_at', cp_iso(v.updated_at))"""

_WIDGET = """json_build_object(
    'id', w.id, 'agent_id', w.agent_id, 'agent_version_id', w.agent_version_id,
    'domains', w.domains, 'published', w.published, 'config', w.config,
    'created_at', cp_iso(w.created_at), 'updated_at', cp_iso(w.updated_at))"""

# Every list is looked up by the agent's own indexes. The organization test on its rows is written
# `(x.organization_id = a.organization_id) IS TRUE`, a filter no index answers (PostgreSQL's
# spelling of SQLite's `+x.organization_id` below): otherwise the planner may AND the
# organization's index in, whose entries for a large (or bloated) organization it reads in full.
# Measured on the bench database: 230 -> 170 µs of backend CPU per statement (RESULTS.md,
# "detailstats").
#
# The agent's summary row (agent_conversation_summaries, kept by triggers; absent until its first
# conversation), LEFT JOINed by primary key.
_STATS = """json_build_object(
        'total', coalesce(s.total, 0),
        'by_status', coalesce(s.by_status, '{}'::json),
        'by_channel', coalesce(s.by_channel, '{}'::json),
        'average_duration_seconds',
            CASE WHEN s.durations_counted > 0 THEN s.duration_total / s.durations_counted END,
        'total_duration_seconds', coalesce(s.duration_total, 0)::float8,
        'last_conversation_at', cp_iso(s.last_conversation_at))"""

AGENT_DETAIL_SQL = f"""
SELECT json_build_object(
    'id', a.id, 'name', a.name, 'description', a.description, 'active', a.active,
    'is_demo', a.is_demo, 'metadata', a.metadata, 'live_version', a.live_version,
    'created_at', cp_iso(a.created_at), 'updated_at', cp_iso(a.updated_at),
    'etag', '"' || a.revision || '"',
    'versions', coalesce((
        SELECT json_agg({_VERSION} ORDER BY v.version DESC)
        FROM agent_versions v
        WHERE v.agent_id = a.id AND (v.organization_id = a.organization_id) IS TRUE
    ), '[]'::json),
    'phone_numbers', coalesce((
        SELECT json_agg({_PHONE} ORDER BY p.phone_number)
        FROM phone_numbers p
        WHERE (p.organization_id = a.organization_id) IS TRUE
          AND (p.inbound_agent_id = a.id OR p.outbound_agent_id = a.id)
    ), '[]'::json),
    'widgets', coalesce((
        SELECT json_agg({_WIDGET} ORDER BY w.created_at)
        FROM web_widgets w
        WHERE w.agent_id = a.id AND (w.organization_id = a.organization_id) IS TRUE
    ), '[]'::json),
    'sip_endpoint', json_build_object(
        'enabled', a.sip_enabled,
        'sip_uri', CASE WHEN a.sip_enabled THEN 'sip:' || a.id || '@' || $3::text END,
        'deployed_at', CASE WHEN a.sip_enabled THEN cp_iso(a.sip_deployed_at) END),
    'conversation_stats', {_STATS}
)::text AS document, a.revision
FROM agents a
LEFT JOIN agent_conversation_summaries s
    ON s.agent_id = a.id AND s.organization_id = a.organization_id
WHERE a.id = $1 AND a.organization_id = $2
"""


# --- SQLite: the same document with SQLite's JSON functions ---------------------------------------
#
# SQLite stores what SQLAlchemy gives it: UUIDs as 32 hex digits, timestamps as naive UTC text
# `YYYY-MM-DD HH:MM:SS.ffffff`, booleans as 0/1, JSON columns as text. The expressions below turn
# each into what the Python assembly (pydantic) writes: dashed UUIDs, ISO-8601 with `Z` and no
# fraction when it is zero, true/false, the stored JSON itself. Floats go through
# `cp_json_float` (db/engine.py): SQLite prints reals with 15 significant digits, Python and
# PostgreSQL with the shortest exact spelling. Aggregates read ordered subqueries (SQLite 3.40
# has no ORDER BY inside an aggregate; it aggregates a subquery's rows in their order).
#
# Every lookup is bounded by the agent (tests/db/test_sqlite_reads.py): the organization
# test is written `+x.organization_id` so that SQLite cannot choose the organization's index,
# which it prefers without statistics and which scans every row of the organization (45 ms per
# document beside 5,000 agents with statistics, against 0.16 ms by the agent's index). The
# conversation statistics are summed once, by the triggers that keep the agent's summary row;
# this statement and the Python assembly both read that row, so their floats agree.


def sqlite_uuid(column: str) -> str:
    return (
        f"(substr({column}, 1, 8) || '-' || substr({column}, 9, 4) || '-' || "
        f"substr({column}, 13, 4) || '-' || substr({column}, 17, 4) || '-' || "
        f"substr({column}, 21))"
    )


def sqlite_iso(column: str) -> str:
    return (
        f"(CASE WHEN {column} IS NULL THEN NULL "
        f"WHEN length({column}) = 19 OR substr({column}, 20) = '.000000' "
        f"THEN substr({column}, 1, 10) || 'T' || substr({column}, 12, 8) || 'Z' "
        f"ELSE substr({column}, 1, 10) || 'T' || substr({column}, 12) || 'Z' END)"
    )


def sqlite_bool(column: str) -> str:
    return f"(CASE WHEN {column} THEN json('true') ELSE json('false') END)"


_SQLITE_PHONE = f"""json_object(
    'phone_number', p.phone_number, 'label', p.label,
    'outbound_shareable', {sqlite_bool("p.outbound_shareable")},
    'inbound_agent_id', {sqlite_uuid("p.inbound_agent_id")},
    'inbound_agent_version_id', {sqlite_uuid("p.inbound_agent_version_id")},
    'inbound_version', p.inbound_version, 'outbound_agent_id', {sqlite_uuid("p.outbound_agent_id")},
    'outbound_agent_version_id', {sqlite_uuid("p.outbound_agent_version_id")},
    'outbound_version', p.outbound_version,
    'created_at', {sqlite_iso("p.created_at")}, 'updated_at', {sqlite_iso("p.updated_at")})"""

_SQLITE_VERSION = f"""json_object(
    'id', {sqlite_uuid("v.id")}, 'version', v.version, 'published', {sqlite_bool("v.published")},
    'published_at', {sqlite_iso("v.published_at")}, 'instructions_status', v.instructions_status,
    'created_at', {sqlite_iso("v.created_at")}, 'updated_at', {sqlite_iso("v.updated_at")})"""

_SQLITE_WIDGET = f"""json_object(
    'id', {sqlite_uuid("w.id")}, 'agent_id', {sqlite_uuid("w.agent_id")},
    'agent_version_id', {sqlite_uuid("w.agent_version_id")},
    'domains', json(w.domains), 'published', {sqlite_bool("w.published")}, 'config', json(w.config),
    'created_at', {sqlite_iso("w.created_at")}, 'updated_at', {sqlite_iso("w.updated_at")})"""

_SQLITE_STATS = f"""json_object(
        'total', coalesce(s.total, 0),
        'by_status', coalesce(json(s.by_status), json('{{}}')),
        'by_channel', coalesce(json(s.by_channel), json('{{}}')),
        'average_duration_seconds', CASE WHEN s.durations_counted > 0
            THEN json(cp_json_float(s.duration_total / s.durations_counted)) END,
        'total_duration_seconds', json(cp_json_float(coalesce(s.duration_total, 0.0))),
        'last_conversation_at', {sqlite_iso("s.last_conversation_at")})"""

SQLITE_AGENT_DETAIL_SQL = f"""
SELECT json_object(
    'id', {sqlite_uuid("a.id")}, 'name', a.name, 'description', a.description,
    'active', {sqlite_bool("a.active")}, 'is_demo', {sqlite_bool("a.is_demo")},
    'metadata', json(a.metadata), 'live_version', a.live_version,
    'created_at', {sqlite_iso("a.created_at")}, 'updated_at', {sqlite_iso("a.updated_at")},
    'etag', '"' || a.revision || '"',
    'versions', (
        SELECT json_group_array(json(doc)) FROM (
            SELECT {_SQLITE_VERSION} AS doc
            FROM agent_versions v
            WHERE +v.organization_id = a.organization_id AND v.agent_id = a.id
            ORDER BY v.version DESC)
    ),
    'phone_numbers', (
        SELECT json_group_array(json(doc)) FROM (
            SELECT {_SQLITE_PHONE} AS doc
            FROM phone_numbers p
            WHERE +p.organization_id = a.organization_id
              AND (p.inbound_agent_id = a.id OR p.outbound_agent_id = a.id)
            ORDER BY p.phone_number)
    ),
    'widgets', (
        SELECT json_group_array(json(doc)) FROM (
            SELECT {_SQLITE_WIDGET} AS doc
            FROM web_widgets w
            WHERE +w.organization_id = a.organization_id AND w.agent_id = a.id
            ORDER BY w.created_at)
    ),
    'sip_endpoint', json_object(
        'enabled', {sqlite_bool("a.sip_enabled")},
        'sip_uri', CASE WHEN a.sip_enabled
            THEN 'sip:' || {sqlite_uuid("a.id")} || '@' || :sip_domain END,
        'deployed_at', CASE WHEN a.sip_enabled THEN {sqlite_iso("a.sip_deployed_at")} END),
    'conversation_stats', {_SQLITE_STATS}
) AS document, a.revision
FROM agents a
LEFT JOIN agent_conversation_summaries s
    ON s.agent_id = a.id AND +s.organization_id = a.organization_id
WHERE a.id = :agent_id AND a.organization_id = :organization_id
"""


async def sqlite_detail_json(
    database: Database, organization_id: uuid.UUID, agent_id: uuid.UUID, sip_domain: str
) -> tuple[str, int] | None:
    """SQLite only: the detail document and the agent's revision in one statement on a read
    connection of its own (db/sqlite_reads.py). Scoped to the organization in the SQL itself."""
    row = await dialect.sqlite_fetchone(
        database,
        SQLITE_AGENT_DETAIL_SQL,
        {
            "agent_id": agent_id.hex,
            "organization_id": organization_id.hex,
            "sip_domain": sip_domain,
        },
    )
    return None if row is None else (row[0], row[1])

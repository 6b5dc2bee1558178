"""The agent detail document built by PostgreSQL in one statement.

`GET /core/agents/{id}` is the hottest read. Assembled in Python it costs six round trips and as
many ORM result-processing passes; here PostgreSQL assembles the JSON and the server passes the
bytes through. The shape must stay identical to `AgentDetail` (the tests run the same assertions
against this and against the Python assembly used on SQLite).
"""

from __future__ import annotations

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

_STATS = """(
    WITH g AS (
        SELECT status, channel, conversations AS n, duration_total AS d,
               durations_counted AS dn, last_conversation_at AS last
        FROM agent_conversation_stats
        WHERE organization_id = a.organization_id AND agent_id = a.id
    )
    SELECT json_build_object(
        'total', coalesce(sum(n), 0),
        'by_status', coalesce(
            (SELECT json_object_agg(status, n) FROM
                (SELECT status, sum(n) AS n FROM g GROUP BY status) s), '{}'::json),
        'by_channel', coalesce(
            (SELECT json_object_agg(channel, n) FROM
                (SELECT channel, sum(n) AS n FROM g GROUP BY channel) c), '{}'::json),
        'average_duration_seconds',
            CASE WHEN sum(dn) > 0 THEN (sum(d) / sum(dn))::float8 END,
        'total_duration_seconds', coalesce(sum(d), 0)::float8,
        'last_conversation_at', cp_iso(max(last)))
    FROM g
)"""

AGENT_DETAIL_SQL = f"""
SELECT json_build_object(
    'id', a.id, 'name', a.name, 'description', a.description, 'active', a.active,
    'is_demo', a.is_demo, 'metadata', a.metadata, 'live_version', a.live_version,
    'created_at', cp_iso(a.created_at), 'updated_at', cp_iso(a.updated_at),
    'etag', '"' || a.revision || '"',
    'versions', coalesce((
        SELECT json_agg({_VERSION} ORDER BY v.version DESC)
        FROM agent_versions v WHERE v.organization_id = a.organization_id AND v.agent_id = a.id
    ), '[]'::json),
    'phone_numbers', coalesce((
        SELECT json_agg({_PHONE} ORDER BY p.phone_number)
        FROM phone_numbers p
        WHERE p.organization_id = a.organization_id
          AND (p.inbound_agent_id = a.id OR p.outbound_agent_id = a.id)
    ), '[]'::json),
    'widgets', coalesce((
        SELECT json_agg({_WIDGET} ORDER BY w.created_at)
        FROM web_widgets w WHERE w.organization_id = a.organization_id AND w.agent_id = a.id
    ), '[]'::json),
    'sip_endpoint', json_build_object(
        'enabled', a.sip_enabled,
        'sip_uri', CASE WHEN a.sip_enabled THEN 'sip:' || a.id || '@' || $3::text END,
        'deployed_at', CASE WHEN a.sip_enabled THEN cp_iso(a.sip_deployed_at) END),
    'conversation_stats', {_STATS}
)::text AS document, a.revision
FROM agents a
WHERE a.id = $1 AND a.organization_id = $2
"""

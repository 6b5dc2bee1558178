"""Bulk-seeding of agents in SQL: a million realistic rows in well under a minute.

Rows are made by one `INSERT ... SELECT FROM generate_series` per organization. The agents table's
secondary indexes are dropped first and rebuilt afterwards from their own definitions (as read from
`pg_indexes`), which is several times faster than maintaining a trigram GIN index row by row; the
schema ends up exactly as the migrations made it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

import asyncpg


def _words(text: str) -> list[str]:
    return text.split()


# Names are "<Company> <Department> <Role>". Each company is ~1% of names; RARE_WORD is one of them.
COMPANIES = _words(
    "Acacia Adler Alpenglow Amberline Anvil Apex Arbor Argent Aspenwood Aurora Basalt Beacon "
    "Birchfield Bluebird Boulder Bramble Brightwater Cardinal Cascade Cedar Cinder Clearwater "
    "Cobalt Copperleaf Coral Cormorant Crestview Cypress Dawnlight Driftwood Ember Evergreen "
    "Falcon Fernhill Firefly Foxglove Garnet Glacier Goldcrest Granite Greenway Harbor Hawthorn "
    "Heron Highland Hollow Indigo Ironwood Ivory Juniper Kestrel Lakeshore Larkspur Lighthouse "
    "Limestone Lodestar Magnolia Maple Marigold Meadow Mistral Moonstone Northwind Oakridge "
    "Obsidian Orchard Osprey Palisade Pebble Pinecone Prairie Quarry Quartz Raven Redwood "
    "Riverbend Rosewood Saffron Sandpiper Sapphire Sequoia Silverline Skylark Slate Sparrow "
    "Spruce Starling Stonegate Summit Sunflower Sycamore Thistle Timber Topaz Tundra Verbena "
    "Willow Wren Yarrow Zephyr"
)
DEPARTMENTS = _words(
    "Billing Support Sales Scheduling Onboarding Claims Returns Reservations Intake Dispatch "
    "Renewals Collections Outreach Feedback Enrollment Orders Shipping Warranty Appointments Triage"
)
# Weighted by repetition: "Assistant" ends ~40% of names.
ROLES = ["Assistant"] * 8 + ["Agent"] * 5 + ["Receptionist"] * 3 + ["Concierge"] * 2
ROLES += ["Scheduler", "Advisor"]
TEAMS = _words(
    "sales support billing onboarding retention collections scheduling triage marketing success"
)
REGIONS = ["us-east", "us-west", "eu-central", "ap-south"]
TIERS = ["gold", "silver", "bronze"]

RARE_WORD = "larkspur"  # one company of 100: ~1% of names
COMMON_WORD = "assistant"  # ~40% of names
METADATA_FILTER = '{"team":"sales"}'  # one team of 10: ~10% of agents


def _check_words() -> None:
    """The filters measure what they claim only if no other word contains the searched ones."""
    words = [w.lower() for w in (*COMPANIES, *DEPARTMENTS, *set(ROLES))]
    for word in (RARE_WORD, COMMON_WORD):
        holders = [w for w in words if word in w]
        if len(holders) != 1:
            raise RuntimeError(f"{word!r} must occur in exactly one seed word, not {holders}")
    if len(COMPANIES) != 100 or len(set(COMPANIES)) != 100:
        raise RuntimeError(
            f"COMPANIES must hold 100 distinct words (each ~1% of names), not {len(COMPANIES)}"
        )


_check_words()

INSERT_AGENTS = """
INSERT INTO agents (id, organization_id, name, description, active, is_demo, metadata,
                    live_version_id, live_version, sip_enabled, sip_deployed_at, revision,
                    created_at, updated_at)
SELECT
    -- A UUIDv7 like the app's: the creation millisecond, then random bits.
    (lpad(to_hex((extract(epoch FROM created) * 1000)::bigint), 12, '0') || '7'
        || substr(r, 14, 3) || substr(r, 17, 16))::uuid,
    $1::uuid,
    company || ' ' || department || ' ' || role,
    CASE WHEN described THEN 'Answers ' || lower(department) || ' calls for ' || company || '.' END,
    active,
    is_demo,
    jsonb_build_object('team', team, 'region', region, 'tier', tier, 'crm_id', 'crm-' || i),
    NULL, NULL, false, NULL,
    1 + edits,
    created,
    CASE WHEN edits > 0 THEN created + (now() - created) * touched ELSE created END
FROM (
    SELECT
        i,
        replace(gen_random_uuid()::text, '-', '') AS r,
        now() - interval '1 hour' - ($2 - i) * $3::interval - random() * $3::interval AS created,
        ($4::text[])[1 + floor(random() * array_length($4::text[], 1))::int] AS company,
        ($5::text[])[1 + floor(random() * array_length($5::text[], 1))::int] AS department,
        ($6::text[])[1 + floor(random() * array_length($6::text[], 1))::int] AS role,
        ($7::text[])[1 + floor(random() * array_length($7::text[], 1))::int] AS team,
        ($8::text[])[1 + floor(random() * array_length($8::text[], 1))::int] AS region,
        ($9::text[])[1 + floor(random() * array_length($9::text[], 1))::int] AS tier,
        random() < 0.7 AS described,
        random() < 0.9 AS active,
        random() < 0.02 AS is_demo,
        floor(random() * 4)::int AS edits,
        random() AS touched
    FROM generate_series(1, $2::int) AS i
) AS generated
"""

SPAN_SECONDS = 730 * 24 * 3600  # agents were created over the last two years


@dataclass(frozen=True)
class SeedTiming:
    insert_seconds: float
    index_seconds: float
    analyze_seconds: float


async def seed_agents(dsn: str, counts: dict[uuid.UUID, int]) -> SeedTiming:
    """Insert `counts[org]` agents into each organization, then rebuild indexes and analyze."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET maintenance_work_mem = '512MB'")
        await connection.execute("SELECT setseed(0.20261128)")  # the same names every time
        indexes = await connection.fetch(
            """SELECT indexname, indexdef FROM pg_indexes
               WHERE schemaname = current_schema() AND tablename = 'agents'
                 AND indexname NOT IN (SELECT conname FROM pg_constraint
                                       WHERE conrelid = 'agents'::regclass)"""
        )
        started = time.perf_counter()
        async with connection.transaction():
            for row in indexes:
                await connection.execute(f'DROP INDEX "{row["indexname"]}"')
            for organization_id, count in counts.items():
                await connection.execute(
                    INSERT_AGENTS,
                    organization_id,
                    count,
                    timedelta(seconds=SPAN_SECONDS / count),
                    COMPANIES,
                    DEPARTMENTS,
                    ROLES,
                    TEAMS,
                    REGIONS,
                    TIERS,
                )
        inserted = time.perf_counter()
        for row in indexes:
            await connection.execute(row["indexdef"])
        indexed = time.perf_counter()
        await connection.execute("VACUUM (ANALYZE) agents")
        analyzed = time.perf_counter()
    finally:
        await connection.close()
    return SeedTiming(inserted - started, indexed - inserted, analyzed - indexed)


@dataclass(frozen=True)
class FilterShares:
    """The fraction of an organization's agents each benchmarked filter matches."""

    rare_name: float
    common_name: float
    metadata: float


async def filter_shares(dsn: str, organization_id: uuid.UUID) -> FilterShares:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            """SELECT count(*) AS total,
                      count(*) FILTER (WHERE name ILIKE '%' || $2 || '%') AS rare,
                      count(*) FILTER (WHERE name ILIKE '%' || $3 || '%') AS common,
                      count(*) FILTER (WHERE metadata @> $4::jsonb) AS metadata
               FROM agents WHERE organization_id = $1""",
            organization_id,
            RARE_WORD,
            COMMON_WORD,
            METADATA_FILTER,
        )
    finally:
        await connection.close()
    total = max(1, row["total"])
    return FilterShares(row["rare"] / total, row["common"] / total, row["metadata"] / total)

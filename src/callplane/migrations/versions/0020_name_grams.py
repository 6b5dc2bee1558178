"""name search by whole-name trigrams of the organization (PostgreSQL)

pg_trgm splits a name into words, so no trigram of `ix_agents_org_name_trgm` spans two words,
and a rare multi-word term made of common trigrams (`billing scheduler`) cost the GIN scan the
whole length of every trigram's posting list (45 to 350 ms at 1M agents; ADR 0005, issue 15). This
replaces it with `ix_agents_org_name_grams`, a GIN over `cp_name_grams(organization_id, name)`:
every three consecutive characters of the lowercased name, spaces and punctuation included
(`g s` spans the words), each an exact 63-bit code of its three code points XORed with the low
64 bits of the organization's id, so a posting list holds one organization's agents only and no
`organization_id` entry has to be intersected. `cp_term_grams` spells the codes of chosen
positions of a search term the same way; the search asks the index for a few rare ones and
rechecks with the real ILIKE (`callplane.agents.name_search`). Built CONCURRENTLY: writes to
`agents` go on during the upgrade; then ANALYZE, whose statistics of the index's elements the
search reads to choose its codes.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 01:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The organization's key: the low 64 bits of its id (random in a UUIDv7), as a signed bigint.
_KEY = "('x' || right(replace(org::text, '-', ''), 16))::bit(64)::bigint"
# The code of the three characters of `l` from position `i`: code points of 21 bits each.
_CODE = (
    "((ascii(substr(l, i, 1))::bigint << 42) | (ascii(substr(l, i + 1, 1))::bigint << 21)"
    " | ascii(substr(l, i + 2, 1))::bigint)"
)

FUNCTIONS = (
    f"""CREATE FUNCTION cp_name_grams(org uuid, name text) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT k # {_CODE}), '{{}}')
        FROM (SELECT lower(name) AS l, {_KEY} AS k) AS lowered,
             generate_series(1, length(l) - 2) AS i
    $$""",
    f"""CREATE FUNCTION cp_term_grams(org uuid, term text, positions integer[]) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(k # {_CODE}), '{{}}')
        FROM (SELECT lower(term) AS l, {_KEY} AS k) AS lowered, unnest(positions) AS i
        WHERE i BETWEEN 1 AND length(l) - 2
    $$""",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in FUNCTIONS:
        op.execute(function)
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_agents_org_name_grams"
            " ON agents USING gin (cp_name_grams(organization_id, name))"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_agents_org_name_trgm")
        op.execute("ANALYZE agents")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_agents_org_name_trgm"
            " ON agents USING gin (organization_id, name gin_trgm_ops)"
        )
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_agents_org_name_grams")
    op.execute("DROP FUNCTION cp_term_grams(uuid, text, integer[])")
    op.execute("DROP FUNCTION cp_name_grams(uuid, text)")

"""name search: an index of the single characters and pairs of each name (PostgreSQL)

A name search term of one or two characters has no three-character code in
`ix_agents_org_name_grams`: after a walk of the newest agents came back short, its matches were
read by scanning every agent of the organization (0.5 to 2 s at a million agents for a rare
one; issue 15). `ix_agents_org_name_short_grams` is a GIN over `cp_name_short_grams(
organization_id, name)`: the code of every character and of every two consecutive characters of
the lowercased name (a character's code point, or the first's shifted 21 bits above the
second's: never equal, as the first is never NUL), XORed with the organization's key as the
three-character codes are. A separate index, so that the statistics of the three-character one,
from which the search chooses its codes, keep their most common elements. `cp_term_short_grams`
spells a term's own code; the real ILIKE rechecks every candidate.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 04:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The organization's key, as in 0020: the low 64 bits of its id as a signed bigint.
_KEY = "('x' || right(replace(org::text, '-', ''), 16))::bit(64)::bigint"
# The code of one character of `l` at position `i`, and of the two from there.
_ONE = "ascii(substr(l, i, 1))::bigint"
_TWO = f"({_ONE} << 21 | ascii(substr(l, i + 1, 1))::bigint)"

FUNCTIONS = (
    f"""CREATE FUNCTION cp_name_short_grams(org uuid, name text) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(DISTINCT k # code), '{{}}')
        FROM (SELECT lower(name) AS l, {_KEY} AS k) AS lowered,
             generate_series(1, length(l)) AS i,
             LATERAL (VALUES ({_ONE}), (CASE WHEN i < length(l) THEN {_TWO} END)) AS c(code)
        WHERE code IS NOT NULL
    $$""",
    f"""CREATE FUNCTION cp_term_short_grams(org uuid, term text) RETURNS bigint[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT CASE length(l) WHEN 1 THEN ARRAY[k # {_ONE}] WHEN 2 THEN ARRAY[k # {_TWO}]
               ELSE '{{}}' END
        FROM (SELECT lower(term) AS l, {_KEY} AS k, 1 AS i) AS lowered
    $$""",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in FUNCTIONS:
        op.execute(function)
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_agents_org_name_short_grams"
            " ON agents USING gin (cp_name_short_grams(organization_id, name))"
        )
        op.execute("ANALYZE agents")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_agents_org_name_short_grams")
    op.execute("DROP FUNCTION cp_term_short_grams(uuid, text)")
    op.execute("DROP FUNCTION cp_name_short_grams(uuid, text)")

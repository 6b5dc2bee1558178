from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, and_, exists, func, literal, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import aliased

from callplane.agents.detail_sql import (
    AGENT_DETAIL_SQL,
    sqlite_bool,
    sqlite_iso,
    sqlite_uuid,
)
from callplane.agents.name_search import STATS_SQL, GramChoice, choice_for
from callplane.db import dialect
from callplane.db.engine import Database, canonical_json
from callplane.db.repository import OrgRepository
from callplane.kit.filters import TimeFilters, like_pattern
from callplane.kit.pagination import decode_cursor, encode_cursor, paginate
from callplane.models import Agent

# Name search on PostgreSQL: the most agents the created_at walk reads before the name grams
# index is asked instead (see `AgentRepository._name_search`; `name_search.choose` shortens it).
NAME_WALK = 10_000


class AgentRepository(OrgRepository[Agent]):
    model = Agent

    async def list(
        self,
        *,
        name: str | None,
        active: bool | None,
        is_demo: bool | None,
        metadata: dict[str, Any] | None,
        times: TimeFilters,
        limit: int,
        cursor: str | None,
    ) -> tuple[Sequence[Any], str | None]:
        """A page of the organization's agents, newest first, as Core rows with `ROW_FIELDS`
        (the list page encodes them to JSON directly: no ORM objects, issue 15)."""
        statement = self.scoped()
        searched: str | None = like_pattern(name) if name else None
        postgres = dialect.is_postgres(self.session)
        if searched is not None and not postgres:
            statement = statement.where(Agent.name.ilike(searched, escape="\\"))
        if active is not None:
            statement = statement.where(Agent.active == active)
        if is_demo is not None:
            statement = statement.where(Agent.is_demo == is_demo)
        if metadata:
            statement = self._metadata_contains(statement, metadata)
        statement = times.apply(statement, Agent.created_at, Agent.updated_at)
        if name and postgres:
            return await self._name_search(statement, name, limit=limit, cursor=cursor)
        return await paginate(
            self.session,
            _row_columns(statement, Agent),
            (Agent.created_at, Agent.id),
            (datetime, uuid.UUID),
            limit=limit,
            cursor=cursor,
            rows=True,
        )

    async def _name_search(
        self, statement: Select[Agent], term: str, *, limit: int, cursor: str | None
    ) -> tuple[Sequence[Any], str | None]:
        """PostgreSQL: a page of `statement`'s agents whose name contains `term`, in a time
        that does not depend on how many match (issue 15).

        Left to itself the planner either walks the organization's created_at index filtering
        every row (slow when matches are rare, or all old) or reads every match through an
        index and sorts them (slow when matches are many); its estimates for substring
        patterns are rough. So: first walk agents newest first from the cursor on, as many as
        `name_search.choose` says from the name grams index's statistics (at most `NAME_WALK`;
        none when a gram of the term is too rare for a walk to fill the page), and keep the
        matching ones; when matches are common that fills the page. If it does not, matches
        are rare, and they are read through the name grams index (`choose` picks the few grams
        to ask for; the real ILIKE rechecks), or for a term shorter than a gram through the
        index of single characters and pairs (the term's own code), into a MATERIALIZED CTE
        (which the planner cannot turn back into the walk) and only they are sorted."""
        kinds = (datetime, uuid.UUID)
        pattern = like_pattern(term)
        session = self.session

        async def load() -> Any:
            return (await session.execute(text(STATS_SQL))).first()

        key = str(session.get_bind().engine.url)
        choice = await choice_for(term, self.organization_id, limit + 1, NAME_WALK, key, load)
        walk = choice.walk
        if walk:
            window = statement
            if cursor is not None:
                after = decode_cursor(cursor, kinds)
                window = window.where(tuple_(Agent.created_at, Agent.id) < tuple_(*after))
            recent = aliased(
                Agent,
                window.order_by(Agent.created_at.desc(), Agent.id.desc()).limit(walk).subquery(),
            )
            walked = _row_columns(select(recent), recent).where(_name_like(recent.name, pattern))
            rows, next_cursor = await paginate(
                self.session,
                walked,
                (recent.created_at, recent.id),
                kinds,
                limit=limit,
                cursor=None,
                rows=True,
            )
            if next_cursor is not None:  # the page is full: what lies beyond is the next page's
                return rows, next_cursor
        narrowed = statement.where(_name_like(Agent.name, pattern))
        if choice.positions:
            narrowed = narrowed.where(self._grams_hold(term, choice))
        else:
            wanted = func.cp_term_short_grams(literal(self.organization_id), term)
            held = func.cp_name_short_grams(Agent.organization_id, Agent.name)
            narrowed = narrowed.where(held.op("@>")(wanted))
        matches = aliased(Agent, narrowed.cte("name_matches").prefix_with("MATERIALIZED"))
        return await paginate(
            self.session,
            _row_columns(select(matches), matches),
            (matches.created_at, matches.id),
            kinds,
            limit=limit,
            cursor=cursor,
            rows=True,
        )

    def _grams_hold(self, term: str, choice: GramChoice) -> Any:
        """The name grams index's condition: the agent's name holds the chosen grams of `term`
        (spelled by PostgreSQL, as the index spells the names')."""
        wanted = func.cp_term_grams(
            literal(self.organization_id), term, literal(choice.positions, ARRAY(Integer))
        )
        return func.cp_name_grams(Agent.organization_id, Agent.name).op("@>")(wanted)

    def _metadata_contains(self, statement: Select[Agent], wanted: dict[str, Any]) -> Select[Agent]:
        """Agents whose metadata has every given top-level key with an equal value."""
        column = Agent.metadata_
        if dialect.is_postgres(self.session):
            # @> uses the GIN index; equality on non-scalars makes nested values exact, not subsets.
            statement = statement.where(column.op("@>")(dialect.jsonb(wanted)))
            for key, value in wanted.items():
                if isinstance(value, dict | list):
                    statement = statement.where(column[key] == dialect.jsonb(value))
            return statement
        # json_each, not a JSON path: SQLite matches a path's key against the stored (escaped)
        # text, so keys holding `"` or non-ASCII characters would never match.
        for key, value in wanted.items():
            entry = func.json_each(column).table_valued("key", "value", "type")
            kind, extracted = entry.c.type, entry.c.value
            if value is None:
                condition = kind == "null"
            elif isinstance(value, bool):
                condition = kind == ("true" if value else "false")
            elif isinstance(value, int | float):
                condition = and_(kind.in_(("integer", "real")), extracted == value)
            elif isinstance(value, str):
                condition = and_(kind == "text", extracted == value)
            else:
                condition = and_(
                    kind.in_(("object", "array")),
                    # Both sides in one spelling: key order and 1.0 vs 1 do not matter (jsonb).
                    func.cp_json_canonical(extracted) == literal(canonical_json(value)),
                )
            statement = statement.where(exists().where(entry.c.key == key, condition))
        return statement


# What a list row carries (AgentRead's fields; `revision` becomes the etag).
ROW_FIELDS = (
    "id",
    "name",
    "description",
    "active",
    "is_demo",
    "metadata_",
    "live_version",
    "created_at",
    "updated_at",
    "revision",
)


def _name_like(column: Any, pattern: str) -> Any:
    """PostgreSQL: `column ILIKE pattern` with the pattern in a one-time subquery (see `_NAME`)."""
    return column.ilike(select(literal(pattern)).scalar_subquery())


def _row_columns(statement: Select[Any], entity: Any) -> Select[Any]:
    """`statement` selecting `ROW_FIELDS` of `entity` (the Agent model or an alias of it)."""
    return statement.with_only_columns(*(getattr(entity, name) for name in ROW_FIELDS))


# The quick list page on PostgreSQL (issue 15): the database writes each row's `AgentRead`
# JSON, as it writes the detail document (detail_sql.py), so the server neither builds ORM
# objects nor decodes and re-encodes metadata; the page is the rows' texts joined. The SQL is
# written out, not compiled from SQLAlchemy per request. The answers are `AgentRepository.list`'s
# (tests/agents/test_list_pages.py compares them).
_LIST_COLUMNS = """json_build_object(
    'id', a.id, 'name', a.name, 'description', a.description, 'active', a.active,
    'is_demo', a.is_demo, 'metadata', a.metadata, 'live_version', a.live_version,
    'created_at', cp_iso(a.created_at), 'updated_at', cp_iso(a.updated_at),
    'etag', '"' || a.revision || '"')::text, a.created_at, a.id"""
_ORDER = "ORDER BY a.created_at DESC, a.id DESC"
# The pattern in a one-time subquery (an InitPlan): written `ILIKE $n ESCAPE '\\'`, a generic
# plan converted and lowered the pattern again for every row walked (~1.7 µs a row against ~0.6).
# Backslash is LIKE's default escape character.
_NAME = "a.name ILIKE (SELECT {})"


def _list_sql(*, active: bool, is_demo: bool, cursor: bool, name: bool) -> tuple[str, ...]:
    """The statements of a quick list page with these filters present. Parameters: $1 the
    organization, then `active`, `is_demo`, the cursor's two values, the name pattern (each
    only when present), the row limit; then the walk's length in a name search's first
    statement, the term in its second and third, the chosen grams' positions and the cap on
    matches (NULL: none) in its third, whose rows carry how many matches it read as a fourth
    column. One statement, or three for a name search: the walk, the matches read through the
    index of single characters and pairs (terms shorter than a gram), the matches read through
    the name grams index (see `AgentRepository._name_search`)."""
    numbers = iter(range(2, 13))
    where = ["a.organization_id = $1"]
    if active:
        where.append(f"a.active = ${next(numbers)}")
    if is_demo:
        where.append(f"a.is_demo = ${next(numbers)}")
    after = ""
    if cursor:
        first, second = next(numbers), next(numbers)
        after = f"(a.created_at, a.id) < (${first}::timestamptz, ${second}::uuid)"
    filters = " AND ".join(where)
    window = f"{filters} AND {after}" if after else filters
    if not name:
        limit = next(numbers)
        return (f"SELECT {_LIST_COLUMNS} FROM agents a WHERE {window} {_ORDER} LIMIT ${limit}",)
    pattern = _NAME.format(f"${next(numbers)}::varchar")
    limit, walked = next(numbers), next(numbers)
    term, positions, cap = walked, next(numbers), next(numbers)
    walk = (
        f"SELECT {_LIST_COLUMNS} FROM (SELECT * FROM agents a WHERE {window} {_ORDER} "
        f"LIMIT ${walked}) a WHERE {pattern} {_ORDER} LIMIT ${limit}"
    )

    def matches(condition: str, extra: str = "") -> str:
        return (
            f"WITH name_matches AS MATERIALIZED (SELECT * FROM agents a WHERE {filters} AND "
            f"{condition}) SELECT {_LIST_COLUMNS}{extra} FROM name_matches a"
            f"{' WHERE ' + after if after else ''} {_ORDER} LIMIT ${limit}"
        )

    grams = (
        f"cp_name_grams(a.organization_id, a.name) @> "
        f"cp_term_grams($1, ${term}::text, ${positions}::int[])"
    )
    short = (
        f"cp_name_short_grams(a.organization_id, a.name) @> cp_term_short_grams($1, ${term}::text)"
    )
    # At most $cap matches (LIMIT NULL: all of them), and how many were read.
    capped = matches(
        f"{grams} AND {pattern} LIMIT ${cap}::bigint", ", (SELECT count(*) FROM name_matches)"
    )
    return walk, matches(f"{short} AND {pattern}"), capped


_Statement = TypeVar("_Statement")


def _for_every_filter_set(build: Callable[..., _Statement]) -> dict[tuple[bool, ...], _Statement]:
    """`build`'s statement(s) for each combination of the quick list's optional filters,
    keyed by (active, is_demo, cursor, name) present."""
    return {
        (active, is_demo, cursor, name): build(
            active=active, is_demo=is_demo, cursor=cursor, name=name
        )
        for active in (False, True)
        for is_demo in (False, True)
        for cursor in (False, True)
        for name in (False, True)
    }


def _page(
    rows: Sequence[Any], limit: int, after: Callable[[Any], list[Any]]
) -> tuple[list[str], str | None]:
    """The first `limit` of `limit + 1` rows' JSON (column 0), and the cursor after the last
    of them (`after`: its cursor values) when there is a next page."""
    if len(rows) <= limit:
        return [row[0] for row in rows], None
    return [row[0] for row in rows[:limit]], encode_cursor(after(rows[limit - 1]))


_LIST_SQL = _for_every_filter_set(_list_sql)


async def list_json(
    database: Database,
    organization_id: uuid.UUID,
    *,
    name: str | None,
    active: bool | None,
    is_demo: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[str], str | None]:
    """PostgreSQL only: `AgentRepository.list` (without metadata and time filters) as each
    row's JSON text, and the next cursor. Sent through the driver on a pooled connection with
    no transaction around it, like the detail document."""
    args: list[Any] = [organization_id]
    if active is not None:
        args.append(active)
    if is_demo is not None:
        args.append(is_demo)
    if cursor is not None:
        args.extend(decode_cursor(cursor, (datetime, uuid.UUID)))
    if name:
        args.append(like_pattern(name))
    args.append(limit + 1)
    statements = _LIST_SQL[active is not None, is_demo is not None, cursor is not None, bool(name)]
    if not name:
        rows = await dialect.fetch(database, statements[0], *args)
    else:
        walk, short, grams = statements

        async def load() -> Any:
            return await dialect.fetchrow(database, STATS_SQL)

        key = str(database.engine.url)
        choice = await choice_for(name, organization_id, limit + 1, NAME_WALK, key, load)
        rows, done = [], False
        if choice.cap:  # the index first: are there fewer matches?
            rows = await dialect.fetch(database, grams, *args, name, choice.positions, choice.cap)
            done = rows[0][3] < choice.cap if rows else cursor is None
        if not done and choice.walk:
            rows = await dialect.fetch(database, walk, *args, choice.walk)
            done = len(rows) > limit
        if not done:  # no walk, or it did not fill the page: the matches are rare
            if not choice.positions:
                rows = await dialect.fetch(database, short, *args, name)
            else:
                rows = await dialect.fetch(database, grams, *args, name, choice.positions, None)
    return _page(rows, limit, lambda last: [last[1], last[2]])


# --- SQLite: the same page with SQLite's JSON functions (see detail_sql.py for the spellings) ---

_SQLITE_LIST_COLUMNS = f"""json_object(
    'id', {sqlite_uuid("a.id")}, 'name', a.name, 'description', a.description,
    'active', {sqlite_bool("a.active")}, 'is_demo', {sqlite_bool("a.is_demo")},
    'metadata', json(a.metadata), 'live_version', a.live_version,
    'created_at', {sqlite_iso("a.created_at")}, 'updated_at', {sqlite_iso("a.updated_at")},
    'etag', '"' || a.revision || '"'), a.created_at, a.id"""


def _sqlite_list_sql(*, active: bool, is_demo: bool, cursor: bool, name: bool) -> str:
    """The statement of a quick list page on SQLite with these filters present; the name
    filter is `ilike` as SQLAlchemy writes it there (`lower(x) LIKE lower(y)`), so the page is
    the ORM path's (tests/agents/test_list_pages.py compares them)."""
    where = ["a.organization_id = :organization_id"]
    if active:
        where.append("a.active = :active")
    if is_demo:
        where.append("a.is_demo = :is_demo")
    if cursor:
        where.append("(a.created_at, a.id) < (:after_created_at, :after_id)")
    if name:
        where.append("lower(a.name) LIKE lower(:pattern) ESCAPE '\\'")
    return (
        f"SELECT {_SQLITE_LIST_COLUMNS} FROM agents a WHERE {' AND '.join(where)} "
        f"{_ORDER} LIMIT :limit"
    )


_SQLITE_LIST_SQL = _for_every_filter_set(_sqlite_list_sql)


async def sqlite_list_json(
    database: Database,
    organization_id: uuid.UUID,
    *,
    name: str | None,
    active: bool | None,
    is_demo: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[str], str | None]:
    """SQLite only: `list_json`'s page in one statement on the database's read connections
    (db/sqlite_reads.py), as the detail document is read: SQLAlchemy's session, its hops to
    the connection's thread and its row processing were most of a page's cost (issue 16).
    Values are bound as SQLAlchemy stores them: UUIDs as 32 hex digits, times as naive UTC
    text with microseconds, booleans as 0/1. A name search may scan the organization, so it
    reads on a thread; a plain page is an index range, read on the loop's own connection."""
    params: dict[str, Any] = {"organization_id": organization_id.hex, "limit": limit + 1}
    if active is not None:
        params["active"] = int(active)
    if is_demo is not None:
        params["is_demo"] = int(is_demo)
    if cursor is not None:
        created_at, agent_id = decode_cursor(cursor, (datetime, uuid.UUID))
        stored = created_at.astimezone(UTC).replace(tzinfo=None)
        # As SQLAlchemy writes it (`isoformat` pads the year to four digits; strftime's `%Y`
        # wrote a forged cursor's year 999 as `999`, which sorts after every stored time).
        params["after_created_at"] = stored.isoformat(sep=" ", timespec="microseconds")
        params["after_id"] = agent_id.hex
    if name:
        params["pattern"] = like_pattern(name)
    sql = _SQLITE_LIST_SQL[active is not None, is_demo is not None, cursor is not None, bool(name)]
    rows = await dialect.sqlite_fetchall(database, sql, params, inline=not name)
    return _page(
        rows,
        limit,
        lambda last: [datetime.fromisoformat(last[1]).replace(tzinfo=UTC), uuid.UUID(last[2])],
    )


async def detail_json(
    database: Database, organization_id: uuid.UUID, agent_id: uuid.UUID, sip_domain: str
) -> tuple[str, int] | None:
    """PostgreSQL only: the detail document and the agent's revision in one statement, sent
    straight through the driver on a pooled connection with no transaction around it (one
    statement reads one consistent snapshot). Scoped to the organization in the SQL itself."""
    row = await dialect.fetchrow(database, AGENT_DETAIL_SQL, agent_id, organization_id, sip_domain)
    return None if row is None else (row[0], row[1])

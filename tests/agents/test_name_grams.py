"""Name search through the name grams index answers exactly as a plain ILIKE does (issue 15).

On PostgreSQL `GET /core/agents?name=` asks `ix_agents_org_name_grams` for a few chosen
trigrams of the term and rechecks with ILIKE (`agents.name_search`); the choice depends on the
index's statistics and may skip the newest-first walk. Whatever it chooses, every page must be
the one a plain `name ILIKE '%term%' ESCAPE '\\'` ordered newest first gives: checked here for
terms with LIKE's wildcards and escape character, non-ASCII letters, spaces at either end,
one- and two-letter terms, words spanning a space, with no statistics, with statistics calling
every gram rare (no walk) or common, and with the real statistics after ANALYZE; through the
quick route and through FastAPI's (the ORM repository). SQLite keeps the plain statement and
runs the same comparison.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from callplane.agents import name_search, repository
from callplane.agents.name_search import GramChoice, GramStats, choose, organization_key
from callplane.kit.filters import like_pattern
from callplane.models import Agent
from tests.factories import Tenant

NAMES = [
    "Billing Scheduler",
    "billing  scheduler",  # two spaces
    "Scheduling Billing Agent",
    "Larkspur Billing Agent",
    "100% real_agent",
    "100 percent realXagent",
    "back\\slash and % sign",
    "under_score",
    "Zürich Ost",
    "ZÜRICH-OST",
    "İstanbul Straße",
    "ΟΔΟΣ Σοφίας",
    "Kelvin \u212a sign",
    "a",
    "ab",
    "x",
    "Emoji 😀 desk",
    "tab\tseparated",
]
TERMS = [
    "a",
    "A",
    "x",
    "ab",
    "b",
    "%",
    "_",
    "\\",
    "100%",
    "0% r",
    "l_a",
    "real_",
    "%_",
    "\\s",
    "g s",
    "G  S",
    " s",
    "s ",
    " ",
    "  ",
    "billing scheduler",
    "BILLING SCHEDULER",
    "billing sch",
    "ing bill",
    "zürich",
    "ZÜRICH",
    "h-o",
    "istanbul",
    "straße",
    "STRASSE",
    "\u03c3",  # sigma
    "οδος",
    "σοφ",
    "k",
    "\u212a",
    "😀",
    "i 😀 d",
    "\t",
    "b\ts",
    "nothing like it",
]


# SQLite's list never looks at the statistics, the walk or the cap these tests vary: there each
# would run test_name_search_with_the_real_statistics again (about 0.7 s of CI apiece).
SQLITE_PLAIN = "SQLite runs the plain ILIKE whatever the plan: the real-statistics test covers it"


async def _pages(tenant: Tenant, params: dict[str, str]) -> list[str]:
    """Every page's agent ids, in order."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        response = await tenant.get(
            "/core/agents", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [item["id"] for item in body["data"]]
        cursor = body["pagination"]["next_cursor"]
        if cursor is None:
            return ids


async def _plain(tenant: Tenant, term: str) -> list[str]:
    """The plain ILIKE, newest first: what every plan must answer."""
    async with tenant.database.session(write=False) as session:
        rows = await session.execute(
            select(Agent.id)
            .where(
                Agent.organization_id == tenant.organization_id,
                Agent.name.ilike(like_pattern(term), escape="\\"),
            )
            .order_by(Agent.created_at.desc(), Agent.id.desc())
        )
        return [str(row[0]) for row in rows]


def _fixed(stats: GramStats | None) -> Any:
    async def gram_stats(database_key: str, load: Any) -> GramStats | None:
        return stats

    return gram_stats


STATS = {
    "none": None,
    # No walk, for short terms too: straight to the indexes.
    "all rare": GramStats({}, 1e-9, 1e6, GramStats({}, 1e-9, 1e6)),
    "all common": None,  # filled per tenant: every gram of every term at 40%
}


async def _compare(tenant: Tenant) -> None:
    for term in TERMS:
        wanted = await _plain(tenant, term)
        quick = await _pages(tenant, {"name": term, "limit": "2"})
        assert quick == wanted, term
        # A time filter sends the request to FastAPI's handler and the ORM repository.
        orm = await _pages(
            tenant, {"name": term, "limit": "3", "created_after": "2000-01-01T00:00:00Z"}
        )
        assert orm == wanted, term


@pytest.mark.parametrize("walk", [2, 4000])
@pytest.mark.parametrize("stats", list(STATS))
async def test_name_search_equals_plain_ilike(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, walk: int, stats: str, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip(SQLITE_PLAIN)
    monkeypatch.setattr(repository, "NAME_WALK", walk)
    fixed = STATS[stats]
    if stats == "all common":
        key = organization_key(tenant.organization_id)
        shares = {
            key ^ name_search._code(name_search._lowered(term), i): 0.4
            for term in TERMS
            for i in range(len(term) - 2)
        }
        fixed = GramStats(shares, 0.4, 1e6)
    monkeypatch.setattr(name_search, "gram_stats", _fixed(fixed))
    for copy in range(3):  # several of each, so that pages split the matches
        for name in NAMES:
            await tenant.create_agent(name=name if copy == 0 else f"{name} {copy}")
    await _compare(tenant)


async def test_name_search_with_the_real_statistics(
    tenant: Tenant, is_postgres: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    for copy in range(3):
        for name in NAMES:
            await tenant.create_agent(name=f"{name} {copy}")
    if is_postgres:
        async with tenant.database.autocommit() as connection:
            await connection.execute(text("ANALYZE agents"))
        monkeypatch.setattr(name_search, "_cache", {})
    await _compare(tenant)


async def test_term_codes_are_the_index_codes(tenant: Tenant, is_postgres: bool) -> None:
    """The codes `choose` looks up in the statistics are the ones PostgreSQL spells for the
    index (for terms whose lowercase Python and PostgreSQL agree on)."""
    if not is_postgres:
        pytest.skip("the name grams index is PostgreSQL's")
    organization = tenant.organization_id
    for term in ["Billing Scheduler", "g s", "zürich-ost", "100%_\\", "😀 ab"]:
        positions = list(range(1, len(term) - 1))
        async with tenant.database.session(write=False) as session:
            spelled = await session.scalar(
                text("SELECT cp_term_grams(:org, :term, :positions)"),
                {"org": organization, "term": term, "positions": positions},
            )
            indexed = await session.scalar(
                text("SELECT cp_name_grams(:org, :term)"), {"org": organization, "term": term}
            )
        key = organization_key(organization)
        lowered = name_search._lowered(term)
        assert spelled == [key ^ name_search._code(lowered, p - 1) for p in positions]
        assert sorted(set(spelled)) == sorted(indexed)


async def test_short_term_codes_are_the_index_codes(tenant: Tenant, is_postgres: bool) -> None:
    """The code `choose` looks up for a term of one or two characters is the one PostgreSQL
    spells for it, and the index holds it for a name equal to the term."""
    if not is_postgres:
        pytest.skip("the index of single characters and pairs is PostgreSQL's")
    organization = tenant.organization_id
    key = organization_key(organization)
    for term in ["j", "Zq", "ü", "😀", "a ", "%_", "\\"]:
        async with tenant.database.session(write=False) as session:
            spelled = await session.scalar(
                text("SELECT cp_term_short_grams(:org, :term)"),
                {"org": organization, "term": term},
            )
            indexed = await session.scalar(
                text("SELECT cp_name_short_grams(:org, :term)"),
                {"org": organization, "term": term},
            )
        assert spelled == [key ^ name_search._short_code(name_search._lowered(term))]
        assert set(spelled) <= set(indexed)


def test_choice_without_statistics() -> None:
    organization = uuid.uuid4()
    assert choose("ab", organization, None, 21, 10_000) == GramChoice([], 10_000)
    chosen = choose("billing scheduler", organization, None, 21, 10_000)
    assert chosen is not None and chosen.walk == 10_000
    # In order: `bil`, then not `ill`, `lli`... (the same word) but `g s` (spanning both) and
    # `che`, the first gram of the second word not overlapping `g s`.
    assert chosen.positions == [1, 7, 10]


def test_choice_prefers_rare_grams_of_different_words() -> None:
    organization = uuid.uuid4()
    key, term = organization_key(organization), "billing scheduler"

    def share(gram: str) -> int:
        start = term.index(gram)
        return key ^ name_search._code(term, start)

    common = {share(term[i : i + 3]): 0.05 for i in range(len(term) - 2)}
    common[share("ing")] = 0.25
    common[share("g s")] = 0.012
    stats = GramStats(common, 0.0015, 1e6)
    chosen = choose(term, organization, stats, 21, 10_000)
    assert chosen is not None
    grams = [term[p - 1 : p + 2] for p in chosen.positions]
    assert "g s" in grams and len(grams) == 3
    assert len({g for g in grams if g in "billing"}) == 1  # one gram of each word
    # Every gram is held by 1.2% of the agents or more: matches may be common, so walk, as far
    # as reading the matches through the index would cost for a million agents.
    assert chosen.walk == 6_481
    # Two words, each at 5% at most: independent, 0.25% would fill 16 of the page's 21 rows
    # in that walk, not a page and a half; the index is asked first, for at most the 3,241
    # matches reading which costs what the walk would.
    assert chosen.cap == 3_241
    shorter = GramChoice(chosen.positions, 4_000, 5_250)
    assert choose(term, organization, stats, 21, 4_000) == shorter
    one_word = choose("billings", organization, stats, 21, 10_000)
    assert one_word is not None and one_word.cap == 0  # its rarest gram's share is close
    # In a table of 1,000 agents the walk would be 205 long, where `g s` (1.2%) has 3 matches
    # at most: straight to the index.
    small = choose(term, organization, GramStats(common, 0.0015, 1_000), 21, 10_000)
    assert small is not None and small.walk == 0
    # A gram the statistics do not hold is rarer than their floor (0.15%): a walk of 6,481
    # would find 12 matches, not the page's 21; it is skipped.
    del common[share("g s")]
    rare = choose(term, organization, GramStats(common, 0.0015, 1e6), 21, 10_000)
    assert rare is not None and rare.walk == 0 and term.index("g s") + 1 in rare.positions
    # The budget: grams at 25% each, the rarest only.
    crowded = GramStats(dict.fromkeys(common, 0.25), 0.25, 1e6)
    only = choose(term, organization, crowded, 21, 10_000)
    assert only is not None and len(only.positions) == 1 and only.walk == 6_481
    assert only.cap == 0  # common-looking: the walk first


def test_choice_estimates_the_share_of_several_words() -> None:
    """`ing s` (1.2% of the bench's names at a million agents): `ing` and `ng ` are common but
    `g s`, spanning both words, holds little more than the term itself. Asked of the index
    first because its words were several, its 12,000 matches overran the cap and the walk ran
    after it (27 ms p95). A word of one letter at the end of a term is estimated from the
    grams beginning with it."""
    organization = uuid.uuid4()
    key, term = organization_key(organization), "ing s"
    shares = {key ^ name_search._code(term, 0): 0.25, key ^ name_search._code(term, 1): 0.21}
    shares[key ^ name_search._code(term, 2)] = 0.012
    # Words beginning with `s` (what the statistics say of the term's last word): 25%.
    for gram, share in {" sc": 0.1, " su": 0.05, " sa": 0.05, " sh": 0.05}.items():
        shares[key ^ name_search._code(gram, 0)] = share
    chosen = choose(term, organization, GramStats(shares, 0.0015, 1e6), 21, 10_000)
    assert chosen == GramChoice([3], 6_481, 0)  # 78 matches expected in that walk: no cap
    # `cedar c` (0.1%): `cedar` holds 1%, `r c` 1.75%; with words beginning with `c` at 20%,
    # the estimate is 0.2% (13 of the page's 21 in the walk): the index first, capped.
    term = "cedar c"
    shares = {key ^ name_search._code(term, i): 0.01 for i in range(3)}
    shares[key ^ name_search._code(term, 3)] = 0.02
    shares[key ^ name_search._code(term, 4)] = 0.0175
    for gram, share in {" cl": 0.05, " co": 0.15}.items():
        shares[key ^ name_search._code(gram, 0)] = share
    chosen = choose(term, organization, GramStats(shares, 0.0015, 1e6), 21, 10_000)
    assert chosen is not None and chosen.walk == 6_481 and chosen.cap == 3_241


def test_choice_for_a_term_shorter_than_a_gram() -> None:
    """One or two characters: the code of the term itself in the index of single characters
    and pairs, whose share is the term's: walked as far as fills the page twice at that share,
    unless reading every match through the index costs less."""
    organization = uuid.uuid4()
    key = organization_key(organization)
    short = GramStats({key ^ ord("j"): 0.01, key ^ (ord("a") << 21 | ord("n")): 0.42}, 0.002, 1e6)
    stats = GramStats({}, 0.0015, 1e6, short)
    assert choose("J", organization, stats, 21, 10_000) == GramChoice([], 4_200)
    assert choose("an", organization, stats, 21, 10_000) == GramChoice([], 100)
    # Not in the statistics: at most 0.2% of the agents, 2,000 matches to read at most,
    # against 10,500 rows to walk for a page: the index only.
    assert choose("zq", organization, stats, 21, 10_000) == GramChoice([], 0)
    # At 100,000 agents, 1.2% is 1,200 matches: reading them (2,400 rows' worth) costs more
    # than the 1,750 rows that fill a page; at 0.5%, 500 matches cost less than 4,200 rows.
    j = {key ^ ord("j"): 0.012}
    small = GramStats({}, 0.0015, 1e5, GramStats(j, 0.002, 1e5))
    assert choose("j", organization, small, 21, 10_000) == GramChoice([], 3_500)
    j = {key ^ ord("j"): 0.005}
    small = GramStats({}, 0.0015, 1e5, GramStats(j, 0.002, 1e5))
    assert choose("j", organization, small, 21, 10_000) == GramChoice([], 0)
    # Without the statistics of that index (before it was analyzed): the longest walk.
    assert choose("zq", organization, GramStats({}, 0.0015, 1e6), 21, 10_000) == GramChoice(
        [], 10_000
    )


@pytest.mark.parametrize("cap", [1, 10_000])
async def test_name_search_asking_the_index_first(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, cap: int, is_postgres: bool
) -> None:
    """A term of several words may be asked of the index first, capped: under the cap the page
    is the index's; at it (1 here), the walk and then the uncapped index answer."""
    if not is_postgres:
        pytest.skip(SQLITE_PLAIN)
    monkeypatch.setattr(repository, "NAME_WALK", 2)
    monkeypatch.setattr(name_search, "gram_stats", _fixed(None))
    choose_really = name_search.choose

    def index_first(*args: Any) -> GramChoice:
        chosen = choose_really(*args)
        return GramChoice(chosen.positions, chosen.walk, cap if chosen.positions else 0)

    monkeypatch.setattr(name_search, "choose", index_first)
    for copy in range(3):
        for name in NAMES:
            await tenant.create_agent(name=f"{name} {copy}")
    await _compare(tenant)

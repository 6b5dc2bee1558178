"""Which trigrams of a name search term PostgreSQL's `ix_agents_org_name_grams` is asked for
(issue 15, ADR 0005 amendment).

The index (migration 0020) holds, per agent, the codes of every three consecutive
characters of the lowercased name, spaces included, keyed by the organization. A GIN scan that
intersects codes decodes the whole posting list of each one it is given, so asking for every
trigram of `billing scheduler` reads `ing`, `lin`, `sch`... (5 to 25% of the agents each) to find
0.26%. So the search asks for at most `MOST_GRAMS` of them: the rarest by the index's own
statistics (ANALYZE's most common elements and their shares), from different words where it
can (`g s`, spanning two words, is rare although both words are common; two grams of one word
find that word again), within a budget of total share. The index only narrows: every candidate
is rechecked with the real `ILIKE`, so the choice can change the time of a search, never its
answer — which is why the statistics may be a minute old. A term of one or two characters is
asked of `ix_agents_org_name_short_grams` (the codes of every character and pair of the name)
for its own code.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

GRAM = 3
MOST_GRAMS = 3
# Most total share (of the table's agents) the chosen grams' posting lists may hold (the rarest
# gram is asked for whatever its share): each posting costs the scan ~20 to 40 ns to decode.
GRAM_BUDGET = 0.12
STATS_SECONDS = 60.0
# What a match read through the index costs (bitmap heap visit, recheck, sort: ~2 µs of the
# server's CPU on the bench at a million agents) in rows of the newest-first walk (~1.1 µs each).
INDEX_ROW_COST = 2.0
# A term of several words whose estimated share would fill fewer pages than this in the walk is
# asked of the index first (capped). Either wrong guess costs about one walk more, but the
# estimate errs high (a word holds at most its rarest gram's share; ANALYZE's 30,000 sampled
# rows put ~10% on a share of 0.3%: `l a`, 0.31%, read as 0.34%, fills 1.1 pages of its walk
# and came back short). One word's rarest gram bounds it closely: it walks first.
INDEX_FIRST_PAGES = 1.5

STATS_SQL = """SELECT s.most_common_elems::text, s.most_common_elem_freqs, c.reltuples::float8,
  t.most_common_elems::text, t.most_common_elem_freqs
FROM pg_class c LEFT JOIN pg_stats s
  ON s.schemaname = current_schema() AND s.tablename = 'ix_agents_org_name_grams'
LEFT JOIN pg_stats t
  ON t.schemaname = current_schema() AND t.tablename = 'ix_agents_org_name_short_grams'
WHERE c.oid = 'agents'::regclass"""


@dataclass(frozen=True)
class GramStats:
    """ANALYZE's view of the index: the share of the table's agents holding each of its most
    common codes; every other code is held by fewer than `floor` of them."""

    shares: dict[int, float]
    floor: float
    rows: float  # the table's agents
    # The same of the index of single characters and pairs (terms shorter than a gram).
    short: GramStats | None = None


@dataclass(frozen=True)
class GramChoice:
    # 1-based positions in the term of the grams to ask the index for; none for a term shorter
    # than a gram: its own code, in the index of single characters and pairs.
    positions: list[int]
    walk: int  # how many agents to walk newest-first before asking the index (0: none)
    # Ask the index first for at most this many matches (0: do not); only when it finds that
    # many is the walk tried, then the index without a cap.
    cap: int = 0


def organization_key(organization_id: uuid.UUID) -> int:
    """The low 64 bits of the organization's id as a signed bigint (the migration's `_KEY`)."""
    return int.from_bytes(organization_id.bytes[8:], "big", signed=True)


def _code(lowered: str, start: int) -> int:
    first, second, third = (ord(c) for c in lowered[start : start + GRAM])
    return (first << 42) | (second << 21) | third


def _short_code(lowered: str) -> int:
    """The code of a term of one or two characters (the migration's `cp_term_short_grams`)."""
    codes = [ord(c) for c in lowered]
    return codes[0] if len(codes) == 1 else (codes[0] << 21) | codes[1]


def _walk(share: float, stats: GramStats, page_rows: int, longest_walk: int) -> int:
    """The walk for a term whose rarest code is held by `share` of the agents (see `choose`)."""
    balanced = math.sqrt(page_rows * stats.rows * INDEX_ROW_COST)
    at_share = min(2 * page_rows / share, share * stats.rows * INDEX_ROW_COST)
    walk = min(longest_walk, math.ceil(max(balanced, at_share)))
    return 0 if share * walk < page_rows else walk


def _lowered(term: str) -> str:
    """The term lowercased character by character (positions kept). Only used to look codes
    up in the statistics: the codes asked for are spelled by PostgreSQL (`cp_term_grams`) with
    its own `lower`, the one `ILIKE` uses."""
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in term)


def _edge_share(stats: GramStats, key: int, pair: str, *, first: bool) -> float:
    """The share of agents holding a gram that begins (`first`) or ends with these two
    characters: the sum of the statistics' shares of such grams (at most 1), or their floor
    when they list none."""
    wanted = (ord(pair[0]) << 21) | ord(pair[1])
    if first:
        held = (s for code, s in stats.shares.items() if (code ^ key) >> 21 == wanted)
    else:
        held = (s for code, s in stats.shares.items() if (code ^ key) & (1 << 42) - 1 == wanted)
    return min(1.0, max(sum(held), stats.floor))


def _edges(
    lowered: str, words_at: list[int | None], stats: GramStats, key: int
) -> dict[int, float]:
    """The shares of the term's one-letter words at either end (with the separator beside
    them), keyed by their start; longer terms only (in one gram the gram is the term)."""
    edges: dict[int, float] = {}
    if len(lowered) > GRAM and words_at[0] is not None and words_at[1] is None:
        edges[0] = _edge_share(stats, key, lowered[:2], first=False)
    if len(lowered) > GRAM and words_at[-1] is not None and words_at[-2] is None:
        edges[len(lowered) - 1] = _edge_share(stats, key, lowered[-2:], first=True)
    return edges


def _share_estimate(shares: list[float], words: list[set[int]], edges: dict[int, float]) -> float:
    """The term's share if its words are independent: the least product of gram shares over
    grams covering disjoint words. A word's share is at most its rarest gram's; a gram spanning
    two words (`g s`) bounds both at once. `words`: the words (their starts) each gram holds,
    one or two for a gram of three characters. A word of one letter at either end of the term
    has no gram of its own: `edges` has its share as a word's last letter (first word) or
    first (last word)."""
    order = sorted(set().union(*words))
    alone = {word: edges.get(word, 1.0) for word in order}
    pairs: dict[tuple[int, int], float] = {}
    for share, held in zip(shares, words, strict=True):
        if len(held) == 1:
            (word,) = held
            alone[word] = min(alone[word], share)
        elif len(held) == 2:
            first, second = sorted(held)
            pairs[first, second] = min(pairs.get((first, second), 1.0), share)
    best = [1.0]  # best[k]: the least product over the first k words
    for k, word in enumerate(order):
        best.append(best[k] * alone[word])
        if k and (order[k - 1], word) in pairs:
            best[k + 1] = min(best[k + 1], best[k - 1] * pairs[order[k - 1], word])
    return min(best[-1], *shares)


def choose(
    term: str,
    organization_id: uuid.UUID,
    stats: GramStats | None,
    page_rows: int,
    longest_walk: int,
) -> GramChoice:
    """The grams to ask for and the walk to try first. A term shorter than a gram is asked of
    the index of single characters and pairs for its own code, whose share s is the term's:
    walked first, as far as fills the page twice at that share (at most `longest_walk`),
    unless reading its s * N matches through the index costs less than the page_rows / s rows
    a walk would take to fill the page.

    The walk: finding `page_rows` matches of share s costs page_rows / s rows walked; reading
    all s * N of them through the index costs `INDEX_ROW_COST` rows walked each (N: the
    table's agents; an organization's are fewer). The two are equal at the balanced length
    sqrt(page_rows * N * INDEX_ROW_COST) (~6,500 rows for a million agents): a walk at least
    that long that comes back short leaves a term whose matches cost the index no more than
    the walk did. The rarest gram's share u bounds the term's (closely for one word): the walk
    is lengthened to fill the page twice at share u, so a term that common is found by the
    walk however its matches fall, unless reading u * N matches through the index would cost
    less; it is at most `longest_walk`; and there is none when even at share u it could not
    fill the page. For several words u is loose (`r b` holds 0.75% of the agents, `larkspur
    billing agent` 0.012%), so the term's share is estimated with its words independent
    (`_share_estimate`: 5% x 5% for `billing scheduler`, 0.26%; `g s` for `ing s`, 1.2%):
    when at that share the walk would not fill the page with half a page to spare
    (`INDEX_FIRST_PAGES`), the term is asked of the index first, capped at the matches
    reading which costs the walk. Without statistics every code counts as rare, and the walk
    is `longest_walk`."""
    count = len(term) - GRAM + 1
    key, lowered = organization_key(organization_id), _lowered(term)
    if count < 1:
        short = stats.short if stats else None
        if short is None or not term:
            return GramChoice([], longest_walk)
        share = short.shares.get(key ^ _short_code(lowered), short.floor)
        if page_rows / share > share * short.rows * INDEX_ROW_COST:
            return GramChoice([], 0)  # reading every match costs less than finding a page
        return GramChoice([], min(longest_walk, math.ceil(2 * page_rows / share)))
    shares = [
        stats.shares.get(key ^ _code(lowered, i), 0.0) if stats else 0.0 for i in range(count)
    ]
    word, words_at = 0, []
    for i, character in enumerate(term):
        if not character.isalnum():
            word = i + 1
        words_at.append(word if character.isalnum() else None)
    words = [{w for w in words_at[i : i + GRAM] if w is not None} for i in range(count)]
    ordered = sorted(range(count), key=lambda i: (shares[i], i))
    chosen: list[int] = []
    covered: set[int] = set()
    for new_words_only in (True, False):  # grams of words not yet covered first
        for i in ordered:
            total = sum(shares[j] for j in chosen)
            if len(chosen) == MOST_GRAMS or (chosen and total + shares[i] > GRAM_BUDGET):
                break
            if any(abs(i - j) < GRAM for j in chosen):
                continue  # overlapping grams find the same agents
            if new_words_only and chosen and words[i] <= covered:
                continue
            chosen.append(i)
            if len(words[i]) == 1:  # a gram spanning two words leaves each open
                covered |= words[i]
        if len(chosen) >= 2:
            break
    walk, cap = longest_walk, 0
    if stats is not None:
        bounds = [stats.shares.get(key ^ _code(lowered, i), stats.floor) for i in range(count)]
        walk = _walk(min(bounds), stats, page_rows, longest_walk)
        if walk and len({w for w in words_at if w is not None}) > 1:
            edges = _edges(lowered, words_at, stats, key)
            if _share_estimate(bounds, words, edges) * walk < INDEX_FIRST_PAGES * page_rows:
                cap = math.ceil(page_rows * stats.rows / walk)
    return GramChoice(sorted(i + 1 for i in chosen), walk, cap)


def _parse(elements: str | None, frequencies: list[float] | None, rows: float) -> GramStats | None:
    if not elements or not frequencies:
        return None
    codes = [int(value) for value in elements.strip("{}").split(",")]
    shares = dict(zip(codes, frequencies[: len(codes)], strict=True))
    return GramStats(shares, min(shares.values()), max(float(rows), 1.0))


def parse_stats(row: Any) -> GramStats | None:
    """`STATS_SQL`'s row as statistics; None before the index was first analyzed."""
    if row is None:
        return None
    stats = _parse(row[0], row[1], row[2])
    if stats is None:
        return None
    return GramStats(stats.shares, stats.floor, stats.rows, _parse(row[3], row[4], row[2]))


_cache: dict[str, tuple[float, GramStats | None]] = {}


async def gram_stats(database_key: str, load: Callable[[], Awaitable[Any]]) -> GramStats | None:
    """The index's statistics for the database `database_key`, read again by `load` (a
    function returning `STATS_SQL`'s row) when older than `STATS_SECONDS`. A process-wide cache
    of a planning hint: a stale entry can make one search slower, never change its answer."""
    now = time.monotonic()
    cached = _cache.get(database_key)
    if cached is not None and now - cached[0] < STATS_SECONDS:
        return cached[1]
    stats = parse_stats(await load())
    _cache[database_key] = (now, stats)
    return stats


async def choice_for(
    term: str,
    organization_id: uuid.UUID,
    page_rows: int,
    longest_walk: int,
    database_key: str,
    load: Callable[[], Awaitable[Any]],
) -> GramChoice:
    """`choose` with the database's statistics."""
    stats = await gram_stats(database_key, load)
    return choose(term, organization_id, stats, page_rows, longest_walk)

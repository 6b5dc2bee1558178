"""Nearest-rank p50/p90 from runs of a histogram (`repository._run`, `_ranks`) against a sort
of the expanded durations: one run or many, in order or not (SQLite's `group_concat`, raw
edges), the same second in several runs (a bucket's hours and edges), ties at the rank."""

from __future__ import annotations

import math
import random

import pytest

from callplane.analytics.repository import Quantiles, _ranks, _run


def nearest_rank(durations: list[int], p: int) -> float:
    ordered = sorted(durations)
    return float(ordered[math.ceil(p * len(ordered) / 100) - 1])


def split(rng: random.Random, durations: list[int], pieces: int) -> list[list[int]]:
    runs: list[list[int]] = [[] for _ in range(pieces)]
    for duration in durations:
        runs[rng.randrange(pieces)].append(duration)
    return [run for run in runs if run]


def as_run(rng: random.Random, durations: list[int], ordered: bool) -> tuple[list[int], list[int]]:
    counts: dict[int, int] = {}
    for duration in durations:
        counts[duration] = counts.get(duration, 0) + 1
    seconds = sorted(counts) if ordered else rng.sample(sorted(counts), len(counts))
    return _run(seconds, [counts[s] for s in seconds])


@pytest.mark.parametrize("seed", range(40))
def test_ranks_of_runs_match_a_sort(seed: int) -> None:
    rng = random.Random(seed)
    spread = rng.choice([1, 3, 60, 900, 100_000])
    durations = [rng.randrange(-2, spread) for _ in range(rng.randrange(1, 400))]
    runs = [
        as_run(rng, part, ordered=rng.random() < 0.5)
        for part in split(rng, durations, rng.choice([1, 2, 7, 40]))
    ]
    assert _ranks(runs) == Quantiles(nearest_rank(durations, 50), nearest_rank(durations, 90))


def test_a_run_read_out_of_order_is_sorted_with_its_counts() -> None:
    seconds, running = _run([30, 5, 12, 5], [1, 2, 4, 8])
    assert seconds == [5, 5, 12, 30]
    assert running == [0, 2, 10, 14, 15]


def test_one_conversation_and_exact_boundaries() -> None:
    assert _ranks([_run([7], [1])]) == Quantiles(7.0, 7.0)
    # 10 conversations: p50 is the 5th (second 1), p90 the 9th (second 2)
    assert _ranks([_run([1, 2], [5, 5])]) == Quantiles(1.0, 2.0)
    assert _ranks([_run([1], [5]), _run([2], [5])]) == Quantiles(1.0, 2.0)

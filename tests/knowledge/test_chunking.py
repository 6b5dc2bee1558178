"""Cutting documents into passages, and reading queries into search terms."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callplane.knowledge.chunking import chunk_text
from callplane.knowledge.search import MAX_TERMS, query_terms


def test_short_lines_are_packed_into_one_passage() -> None:
    assert chunk_text("Opening hours\n\nMonday to Friday, 9 to 5.\n") == [
        "Opening hours\nMonday to Friday, 9 to 5."
    ]


def test_whitespace_only_has_no_passages() -> None:
    assert chunk_text("") == []
    assert chunk_text(" \n\t\n  \n") == []


def test_passages_are_cut_between_lines_then_sentences_then_words() -> None:
    lines = [f"Line {i} " + "word " * 30 for i in range(10)]  # ~160 chars each
    chunks = chunk_text("\n".join(lines), max_chars=500)
    assert all(len(chunk) <= 500 for chunk in chunks)
    assert chunks[0].startswith("Line 0") and chunks[1].startswith("Line 3")  # 3 lines fit
    sentences = " ".join(f"Sentence number {i} is here." for i in range(40))
    cut = chunk_text(sentences, max_chars=100)
    assert all(len(chunk) <= 100 and chunk.endswith(".") for chunk in cut)
    assert " ".join(cut) == sentences
    word = "x" * 250
    assert chunk_text(word, max_chars=100) == ["x" * 100, "x" * 100, "x" * 50]


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=3000))
def test_no_word_is_lost_or_reordered(text: str) -> None:
    chunks = chunk_text(text, max_chars=120)
    assert all(0 < len(chunk) <= 120 for chunk in chunks)
    assert "".join("".join(chunks).split()) == "".join(text.split())


def test_queries_are_reduced_to_their_words() -> None:
    assert query_terms('"C++ (2024)" AND -foo* NEAR(a b) col:x ^y') == [
        "c",
        "2024",
        "and",
        "foo",
        "near",
        "a",
        "b",
        "col",
        "x",
        "y",
    ]
    assert query_terms("Où est l'hôpital? 東京 Ünïcödé_snake") == [
        "où",
        "est",
        "l",
        "hôpital",
        "東京",
        "ünïcödé",
        "snake",
    ]
    assert query_terms("?!* ()\"' \x00") == []
    assert query_terms("Hours hours HOURS") == ["hours"]
    assert len(query_terms(" ".join(f"w{i}" for i in range(100)))) == MAX_TERMS

"""kit.quick's parsers accept only spellings whose meaning FastAPI would give them too; every
other spelling is refused (REFUSE), which hands the request to FastAPI (tests/agents/
test_list_pages.py checks the answers)."""

from __future__ import annotations

import uuid

import pytest
from pydantic import TypeAdapter
from starlette.requests import Request

from callplane.kit import quick

LIMIT = quick.integer(1, 100)


@pytest.mark.parametrize("raw", ["1", "9", "20", "99", "100"])
def test_integer_accepts_canonical_values_in_range(raw: str) -> None:
    assert LIMIT(raw) == TypeAdapter(int).validate_python(raw)


@pytest.mark.parametrize("raw", ["", "0", "101", "020", "+5", "-1", " 5", "5 ", "1e1", "5.0", "٣"])
def test_integer_refuses_everything_else(raw: str) -> None:
    assert LIMIT(raw) is quick.REFUSE


def test_boolean_and_text() -> None:
    assert (quick.boolean("true"), quick.boolean("false")) == (True, False)
    for raw in ["", "True", "1", "yes", "on", "t"]:
        assert quick.boolean(raw) is quick.REFUSE
    short = quick.text(3)
    assert short("abc") == "abc" and short("é€𝄞") == "é€𝄞"
    for raw in ["", "abcd", "a\x00"]:
        assert short(raw) is quick.REFUSE


def test_uuid_text() -> None:
    value = uuid.uuid4()
    assert quick.uuid_text(str(value)) == value
    assert quick.uuid_text(str(value).upper()) == value
    for raw in [value.hex, f"{{{value}}}", f"urn:uuid:{value}", str(value)[:-1], "x" * 36]:
        assert quick.uuid_text(raw) is quick.REFUSE


def _request(query: bytes, path_params: dict[str, str] | None = None) -> Request:
    scope = {"type": "http", "query_string": query, "path_params": path_params or {}}
    return Request(scope)


def test_parse_query() -> None:
    parsers = {"limit": LIMIT, "active": quick.boolean}
    assert quick.parse_query(_request(b""), parsers) == {}
    assert quick.parse_query(_request(b"limit=5&active=false"), parsers) == {
        "limit": 5,
        "active": False,
    }
    for query in [b"limit=5&limit=6", b"limit=5&other=1", b"limit=05", b"active"]:
        assert quick.parse_query(_request(query), parsers) is None, query
    path = {"agent_id": quick.uuid_text}
    value = uuid.uuid4()
    parsed = quick.parse_query(_request(b"limit=2", {"agent_id": str(value)}), parsers, path)
    assert parsed == {"agent_id": value, "limit": 2}
    assert quick.parse_query(_request(b"", {"agent_id": "nope"}), parsers, path) is None


@pytest.mark.parametrize(
    "query",
    [
        b"limit=20",
        b"limit=20&active=true&is_demo=false",
        b"a=1&&b=2&",
        b"&",
        b"=",
        b"a",
        b"a=",
        b"=b",
        b"a==b=c",
        b"a=1&a=2",
        b"a=1;b=2",
        b"name=caf\xc3\xa9&x=\xff",
        b"name=a%20b",
        b"name=a+b",
        b"n%61me=%zz&c=%C3%A9",
        b"name=%00",
        b"a=%2B&b=%26c",
    ],
)
def test_query_items_are_starlettes(query: bytes) -> None:
    """The hand split of an unescaped query and parse_qsl of an escaped one give the pairs
    Starlette's QueryParams holds, in order."""
    assert quick.query_items(query) == _request(query).query_params.multi_items()


def test_choice() -> None:
    channel = quick.choice("text", "sms")
    assert (channel("text"), channel("sms")) == ("text", "sms")
    for raw in ["", "Text", "TEXT", "fax", " text"]:
        assert channel(raw) is quick.REFUSE

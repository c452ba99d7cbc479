"""A delivery's JSON: parsed fast, yet accepted and refused exactly as the standard library would."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncjobs.intake import parse_body

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # wider than 64 bits too: orjson refuses those, the standard library does not
    | st.floats()  # NaN and infinities too: written as NaN / Infinity, which only the standard library reads
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


def standard(body: bytes):
    """What the standard library makes of a UTF-8 body: ("value", v) or ("refused", None)."""
    try:
        return "value", json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return "refused", None


def ours(body: bytes):
    try:
        return "value", parse_body(body)
    except ValueError:
        return "refused", None


def same(a, b) -> bool:
    """Equal values, telling 1 from 1.0 and -0.0 from 0.0, and NaN equal to itself."""
    return json.dumps(a) == json.dumps(b) and repr(a) == repr(b)


@given(json_values, st.booleans())
def test_any_json_the_standard_library_writes_reads_back_the_same(value, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    outcome, parsed = ours(body)
    assert outcome == "value"
    assert same(parsed, json.loads(body))


@given(
    st.binary(max_size=200)
    | st.text(alphabet='{}[]",:0123456789.eE+-truefalsnNIiy \\u', max_size=60).map(str.encode)
)
def test_arbitrary_bytes_are_refused_exactly_when_the_standard_library_refuses_them(body):
    expected, ours_ = standard(body), ours(body)
    assert expected[0] == ours_[0]
    if expected[0] == "value":
        assert same(ours_[1], expected[1])


def test_text_bodies_parse_the_same_as_bytes():
    assert parse_body('{"name": "Chi nhánh Hà Nội", "id": 18446744073709551616}') == {
        "name": "Chi nhánh Hà Nội",
        "id": 2**64,
    }


@pytest.mark.parametrize("number", [-(2**63) - 1, 2**63, 2**64, 10**30])
def test_integers_wider_than_64_bits_keep_every_digit(number):
    """orjson would read these as floats, losing digits, without a word: an order id or an amount changed."""
    parsed = parse_body(f'{{"id": {number}, "list": [{number}]}}'.encode())
    assert parsed == {"id": number, "list": [number]} and type(parsed["id"]) is int


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        (b'{"a": 1', "Expecting"),
    ],
)
def test_a_refusal_says_why(body, reason):
    with pytest.raises(ValueError, match=reason):
        parse_body(body)

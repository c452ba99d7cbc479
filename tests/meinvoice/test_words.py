"""Vietnamese amounts in words: a table of known readings, and a reader that parses them back."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meinvoice.words import amount_in_words

KNOWN = [
    (0, "Không đồng"),
    (1, "Một đồng"),
    (4, "Bốn đồng"),
    (5, "Năm đồng"),
    (10, "Mười đồng"),
    (11, "Mười một đồng"),
    (14, "Mười bốn đồng"),
    (15, "Mười lăm đồng"),
    (20, "Hai mươi đồng"),
    (21, "Hai mươi mốt đồng"),
    (24, "Hai mươi bốn đồng"),
    (25, "Hai mươi lăm đồng"),
    (55, "Năm mươi lăm đồng"),
    (91, "Chín mươi mốt đồng"),
    (100, "Một trăm đồng"),
    (101, "Một trăm lẻ một đồng"),
    (105, "Một trăm lẻ năm đồng"),
    (110, "Một trăm mười đồng"),
    (111, "Một trăm mười một đồng"),
    (115, "Một trăm mười lăm đồng"),
    (121, "Một trăm hai mươi mốt đồng"),
    (999, "Chín trăm chín mươi chín đồng"),
    (1000, "Một nghìn đồng"),
    (1006, "Một nghìn không trăm lẻ sáu đồng"),
    (1015, "Một nghìn không trăm mười lăm đồng"),
    (1050, "Một nghìn không trăm năm mươi đồng"),
    (1100, "Một nghìn một trăm đồng"),
    (10_000, "Mười nghìn đồng"),
    (15_000, "Mười lăm nghìn đồng"),
    (21_000, "Hai mươi mốt nghìn đồng"),
    (105_000, "Một trăm lẻ năm nghìn đồng"),
    (349_000, "Ba trăm bốn mươi chín nghìn đồng"),
    (1_000_050, "Một triệu không trăm năm mươi đồng"),
    (1_001_000, "Một triệu không trăm lẻ một nghìn đồng"),
    (1_250_000, "Một triệu hai trăm năm mươi nghìn đồng"),
    (13_200_000, "Mười ba triệu hai trăm nghìn đồng"),
    (100_000_000, "Một trăm triệu đồng"),
    (1_000_000_000, "Một tỷ đồng"),
    (1_000_000_005, "Một tỷ không trăm lẻ năm đồng"),
    (2_500_000_000, "Hai tỷ năm trăm triệu đồng"),
    (
        1_234_567_891,
        "Một tỷ hai trăm ba mươi bốn triệu năm trăm sáu mươi bảy nghìn tám trăm chín mươi mốt đồng",
    ),
    (1_000_000_000_000, "Một nghìn tỷ đồng"),
    (5_000_000_000_000_000, "Năm triệu tỷ đồng"),
    (-2_500, "Âm hai nghìn năm trăm đồng"),
    (-350_000, "Âm ba trăm năm mươi nghìn đồng"),
]


@pytest.mark.parametrize(("amount", "words"), KNOWN)
def test_known_readings(amount, words):
    assert amount_in_words(amount) == words


def test_decimal_input_is_read_like_an_int():
    assert amount_in_words(Decimal("13200000.0")) == amount_in_words(13_200_000)
    assert amount_in_words(Decimal("-5")) == "Âm năm đồng"


@pytest.mark.parametrize("bad", [Decimal("1.5"), Decimal("NaN"), Decimal("Infinity")])
def test_fractional_or_non_finite_amounts_are_refused(bad):
    with pytest.raises(ValueError):
        amount_in_words(bad)


@pytest.mark.parametrize("bad", [1.0, "100", True, None])
def test_other_types_are_refused(bad):
    with pytest.raises(TypeError):
        amount_in_words(bad)


# --- an independent reader: words back to the number ------------------------------------------------

_DIGIT = {
    w: i for i, w in enumerate(["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"])
}


def _three(tokens: list[str]) -> int:
    value, i = 0, 0
    if len(tokens) >= 2 and tokens[1] == "trăm":
        value, i = _DIGIT[tokens[0]] * 100, 2
    rest = tokens[i:]
    if rest[:1] == ["lẻ"]:
        assert len(rest) == 2 and rest[1] in _DIGIT and rest[1] != "không", tokens
        return value + _DIGIT[rest[1]]
    if rest[:1] == ["mười"]:
        value += 10
        rest = rest[1:]
    elif len(rest) >= 2 and rest[1] == "mươi":
        assert rest[0] not in ("không", "một"), tokens
        value += _DIGIT[rest[0]] * 10
        rest = rest[2:]
    if rest:
        assert len(rest) == 1, tokens
        unit = rest[0]
        if unit == "mốt":
            assert value % 100 >= 20, tokens  # only after "mươi"
            return value + 1
        if unit == "lăm":
            assert value % 100 >= 10, tokens  # only after "mười"/"mươi"
            return value + 5
        assert unit not in ("không",), tokens
        if unit == "năm":
            assert value % 100 < 10, tokens  # "năm" after a tens word would be "lăm"
        if unit == "một":
            assert value % 100 < 20, tokens  # "một" after "mươi" would be "mốt"
        value += _DIGIT[unit]
    return value


def _below_billion(tokens: list[str]) -> int:
    total = 0
    for word, scale in (("triệu", 10**6), ("nghìn", 10**3)):
        if word in tokens:
            i = tokens.index(word)
            total += _three(tokens[:i]) * scale
            tokens = tokens[i + 1 :]
    return total + (_three(tokens) if tokens else 0)


def _read(tokens: list[str]) -> int:
    if "tỷ" in tokens:
        i = len(tokens) - 1 - tokens[::-1].index("tỷ")
        return _read(tokens[:i]) * 10**9 + (_below_billion(tokens[i + 1 :]) if tokens[i + 1 :] else 0)
    return _below_billion(tokens)


def parse(words: str) -> int:
    assert words.endswith(" đồng")
    tokens = words[: -len(" đồng")].lower().split(" ")
    if tokens == ["không"]:
        return 0
    sign = 1
    if tokens[0] == "âm":
        sign, tokens = -1, tokens[1:]
    return sign * _read(tokens)


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_reads_back_to_the_same_number(n):
    words = amount_in_words(n)
    assert parse(words) == n


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_shape_of_every_reading(n):
    words = amount_in_words(n)
    assert words == amount_in_words(n)  # deterministic
    assert "  " not in words and words == words.strip()
    assert words.endswith(" đồng") and words.count("đồng") == 1
    assert words[0].isupper() and words[1:] == words[1:].lower()
    assert words.startswith("Âm ") == (n < 0)
    assert " tư" not in words and "linh" not in words  # one spelling, always
    if n:
        assert "không đồng" not in words.lower()
        # "không" is only ever said before "trăm"
        tokens = words.lower().split()
        for i, token in enumerate(tokens):
            if token == "không":
                assert tokens[i + 1] == "trăm"

"""Vietnamese reading of a whole VND amount, for ``TotalAmountInWords``.

Conventions (those of Vietnamese accounting software, MISA's included):

- groups of three digits: nghìn, triệu, tỷ; past a tỷ the reading repeats ("một nghìn tỷ", "một triệu tỷ");
- a zero hundreds digit inside a larger number is read "không trăm" (1 006 → "một nghìn không trăm lẻ sáu");
  wholly zero groups are skipped (1 000 050 → "một triệu không trăm năm mươi");
- a zero tens digit before a non-zero unit is "lẻ" (105 → "một trăm lẻ năm");
- "mười" for the tens digit 1 and "mươi" otherwise; a unit 1 after "mươi" is "mốt" (21 → "hai mươi mốt",
  but 11 → "mười một"); a unit 5 after any tens is "lăm" (15, 25), alone or after "lẻ" it is "năm";
  a unit 4 is always "bốn" (the alternative "tư" is never used, for consistency).

The first letter is capitalised and the reading ends with " đồng"; 0 is "Không đồng", a negative amount
(an adjustment-down invoice) reads "Âm …".
"""

from decimal import Decimal

_DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_BILLION = 10**9


def _three(n: int, *, inner: bool) -> list[str]:
    """Words for 0 < n < 1000; ``inner`` when a higher group precedes it (so "không trăm" is said)."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    words: list[str] = []
    if hundreds or inner:
        words += [_DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units and words:
            words.append("lẻ")
    elif tens == 1:
        words.append("mười")
    else:
        words += [_DIGITS[tens], "mươi"]
    if units == 1 and tens >= 2:
        words.append("mốt")
    elif units == 5 and tens >= 1:
        words.append("lăm")
    elif units:
        words.append(_DIGITS[units])
    return words


def _below_billion(n: int, *, inner: bool) -> list[str]:
    """Words for 0 < n < 10⁹."""
    words: list[str] = []
    for scale, name in ((10**6, "triệu"), (10**3, "nghìn"), (1, "")):
        group = n // scale % 1000
        if not group:
            continue
        words += _three(group, inner=inner or bool(words))
        if name:
            words.append(name)
    return words


def _read(n: int) -> list[str]:
    """Words for n > 0."""
    if n < _BILLION:
        return _below_billion(n, inner=False)
    high, low = divmod(n, _BILLION)
    words = [*_read(high), "tỷ"]
    if low:
        words += _below_billion(low, inner=True)
    return words


def amount_in_words(n: int | Decimal) -> str:
    """``1006`` → ``"Một nghìn không trăm lẻ sáu đồng"``; raises ValueError for a fractional amount."""
    if isinstance(n, bool) or not isinstance(n, int | Decimal):
        raise TypeError(f"amount_in_words needs an int or Decimal, not {type(n).__name__}")
    if isinstance(n, Decimal):
        if not n.is_finite() or n != n.to_integral_value():
            raise ValueError(f"{n} is not a whole number of đồng")
        n = int(n)
    if n == 0:
        return "Không đồng"
    words = _read(abs(n))
    if n < 0:
        words.insert(0, "âm")
    text = " ".join(words) + " đồng"
    return text[0].upper() + text[1:]

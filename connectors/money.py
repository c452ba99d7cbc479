"""Money as the books keep it: Decimal amounts in a currency's minor units, split to the last unit.

Minor units follow ISO 4217 (https://www.iso.org/iso-4217-currency-codes.html): the đồng has none, the
euro and the crowns two. Rounding is half up (away from zero for negatives), as Vietnamese invoices and
Nordic VAT reports both round.
"""

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .text import Text

MINOR_UNITS = {"VND": 0, "EUR": 2, "SEK": 2, "NOK": 2, "DKK": 2, "USD": 2, "JPY": 0}
# No amount or quantity has more digits than this (a quadrillion đồng): "1e100000000" is refused unexpanded.
MAX_DIGITS = 15


class Unreadable(ValueError):
    """A value that is not the amount or quantity it should be; ``text`` says which and why."""

    def __init__(self, text: Text):
        super().__init__(text.english())
        self.text = text


def read_amount(value: Any, what: Text | str, *, currency: str = "VND", required: bool = False) -> Decimal:
    """A JSON number or numeric string, in whole minor units of the currency (``what`` names the field)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Unreadable(Text("%(what)s is missing", what=what))
        return Decimal(0)
    not_an_amount = Text("%(what)s: %(value)s is not an amount", what=what, value=repr(value))
    if isinstance(value, bool):
        raise Unreadable(not_an_amount)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise Unreadable(not_an_amount) from exc
    if not number.is_finite() or number.adjusted() > MAX_DIGITS:
        raise Unreadable(not_an_amount)
    places = MINOR_UNITS.get((currency or "VND").upper(), 2)
    step = Decimal(1).scaleb(-places)
    if number != number.quantize(step, rounding=ROUND_DOWN):
        if places == 0:
            raise Unreadable(
                Text("%(what)s: %(value)s is not a whole number of đồng", what=what, value=str(value))
            )
        raise Unreadable(
            Text(
                "%(what)s: %(value)s has more than %(places)s decimals",
                what=what,
                value=str(value),
                places=places,
            )
        )
    return number.quantize(step)


def read_quantity(value: Any, what: Text | str) -> Decimal:
    """A whole, non-negative number of units."""
    if isinstance(value, bool) or value is None:
        raise Unreadable(Text("%(what)s: %(value)s is not a quantity", what=what, value=repr(value)))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise Unreadable(Text("%(what)s: %(value)s is not a quantity", what=what, value=repr(value))) from exc
    if (
        not number.is_finite()
        or number.adjusted() > MAX_DIGITS
        or number != number.to_integral_value()
        or number < 0
    ):
        raise Unreadable(
            Text("%(what)s: %(value)s is not a whole, non-negative quantity", what=what, value=repr(value))
        )
    return Decimal(int(number))


def amount_text(amount: Decimal | int, currency: str = "VND") -> str:
    """1.234.567 đồng: how amounts are written in messages about VND sales."""
    if (currency or "VND").upper() == "VND":
        return f"{int(amount):,}".replace(",", ".") + " đồng"
    return f"{amount} {currency}"


def quantum(currency: str) -> Decimal:
    """The smallest amount of the currency: 1 for VND, 0.01 for EUR (two decimals when unknown)."""
    return Decimal(1).scaleb(-MINOR_UNITS.get((currency or "").upper(), 2))


def round_half_up(value: Decimal, step: Decimal = Decimal(1)) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def allocate(total: Decimal, weights: Sequence[Decimal], step: Decimal = Decimal(1)) -> list[Decimal]:
    """Split ``total`` in proportion to ``weights`` in whole ``step``s, by largest remainder (ties to the
    earlier index): the shares always add up to ``total`` exactly.

    ``total`` must be a whole number of steps and ``weights`` not all zero unless ``total`` is zero.
    """
    if not weights:
        if total:
            raise ValueError(f"cannot share {total} over nothing")
        return []
    units = total / step
    if units != units.to_integral_value():
        raise ValueError(f"{total} is not a whole number of {step}")
    units_int = int(units)
    if units_int == 0:
        return [Decimal(0) * step for _ in weights]
    scaled = [_units(w, step) for w in weights]  # integers: exact at any size, unlike Decimal's 28 digits
    whole = sum(scaled)
    if whole <= 0:
        raise ValueError(f"cannot share {total} over weights worth nothing")
    shares, remainders = [], []
    for i, weight in enumerate(scaled):
        share, remainder = divmod(units_int * weight, whole)
        shares.append(share)
        remainders.append((-remainder, i))
    for _, i in sorted(remainders)[: units_int - sum(shares)]:
        shares[i] += 1
    return [Decimal(s) * step for s in shares]


def _units(amount: Decimal, step: Decimal) -> int:
    units = Decimal(amount) / step
    if units != units.to_integral_value():
        raise ValueError(f"{amount} is not a whole number of {step}")
    return int(units)

"""Money as the books keep it: Decimal amounts in a currency's minor units, split to the last unit.

Minor units follow ISO 4217 (https://www.iso.org/iso-4217-currency-codes.html): the đồng has none, the
euro and the crowns two. Rounding is half up (away from zero for negatives), as Vietnamese invoices and
Nordic VAT reports both round.
"""

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

MINOR_UNITS = {"VND": 0, "EUR": 2, "SEK": 2, "NOK": 2, "DKK": 2, "USD": 2, "JPY": 0}


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

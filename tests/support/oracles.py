"""Independent oracles: the same answers as the product's code, written another way, to test it against."""

from fractions import Fraction


def largest_remainder(total: int, weights: list[int]) -> list[int]:
    """Split `total` in proportion to `weights`, the remainder to the largest fractions (ties to the earlier
    index), with exact fractions: shares always add up to `total`."""
    whole = sum(weights)
    if not total:
        return [0] * len(weights)
    exact = [Fraction(total * w, whole) for w in weights]
    shares = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares

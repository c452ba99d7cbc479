"""Vietnamese tax codes (MST): format, branch suffix and check digit."""

import re

from connectors.text import Text

_MST = re.compile(r"^(\d{10})(?:-(\d{3}))?$")
_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


def check_digit(first_nine: str) -> int | None:
    """The 10th digit for these nine, or None when no digit can be valid."""
    value = 10 - sum(int(d) * w for d, w in zip(first_nine, _WEIGHTS, strict=True)) % 11
    return None if value == 10 else value


def tax_code_error(code: str) -> Text | None:
    """None when the MST is valid, else a sentence saying what is wrong with it."""
    code = (code or "").strip()
    match = _MST.match(code)
    if not match:
        return Text(
            "“%(code)s” is not a tax code: expected 10 digits, optionally followed by -NNN for a branch.",
            code=code,
        )
    main, branch = match.groups()
    if main[2:9] == "0000000":
        return Text("“%(code)s” is not a tax code: digits 3 to 9 cannot all be zero.", code=code)
    expected = check_digit(main[:9])
    if expected is None or expected != int(main[9]):
        return Text("“%(code)s” has a wrong check digit: it was probably mistyped.", code=code)
    if branch == "000":
        return Text("“%(code)s” has branch suffix -000, which is never issued.", code=code)
    return None

"""Vietnamese buyer identifiers, for every target that names a Vietnamese buyer (meInvoice, AMIS): tax codes
(MST: format, branch suffix and check digit), 12-digit personal identification numbers, passports and
budget-relation unit codes."""

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


# --- Decree 70 buyers: personal identification numbers, passports, budget-relation unit codes ------------

# The province (or centrally run city) part of a 12-digit personal identification number: the codes of
# the 63 provinces of Circular 07/2016/TT-BCA (annex I). The 2025 mergers kept one of these codes for each
# merged province, so every number issued before or after is covered.
_PROVINCES = (
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036 037 038 "
    "040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075 077 079 080 082 "
    "083 084 086 087 089 091 092 093 094 095 096"
)
PROVINCE_CODES = frozenset(_PROVINCES.split(" "))
_PERSONAL_ID = re.compile(r"^\d{12}$")
_PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")
_BUDGET_CODE = re.compile(r"^\d{7}$")


def personal_id_error(code: str) -> Text | None:
    """None when ``code`` has the shape of a 12-digit personal identification number (số định danh cá nhân,
    the citizen id card's number): province code, then the gender-and-century digit (0–3 for people born
    in the 1900s or 2000s), the last two digits of the birth year and six more digits. There is no check
    digit, so a shape is all that can be checked."""
    code = (code or "").strip()
    if not _PERSONAL_ID.match(code):
        return Text(
            "“%(code)s” is not a personal identification number: expected exactly 12 digits.", code=code
        )
    if code[:3] not in PROVINCE_CODES:
        return Text(
            "“%(code)s” is not a personal identification number: it starts with %(province)s, which is no "
            "province code.",
            code=code,
            province=code[:3],
        )
    if code[3] not in "0123":
        return Text(
            "“%(code)s” is not a personal identification number: its 4th digit (gender and century of "
            "birth) must be 0 to 3.",
            code=code,
        )
    return None


def buyer_tax_code_error(code: str) -> Text | None:
    """A buyer's tax code: an enterprise MST (10 digits, or 10-3 for a branch), or — for individuals and
    household businesses since 1 July 2025 (Circular 86/2024/TT-BTC) — their 12-digit personal
    identification number."""
    code = (code or "").strip()
    if len(code) == 12 and code.isdigit():
        return personal_id_error(code)
    return tax_code_error(code)


def is_personal_id(code: str) -> bool:
    code = (code or "").strip()
    return len(code) == 12 and code.isdigit()


def passport_error(number: str) -> Text | None:
    """A passport number as the invoice carries it (at most 20 characters): letters and digits only, with
    at least one digit. A Vietnamese passport is one letter and 7 digits; foreign ones vary, so only that
    general shape is checked."""
    number = (number or "").strip()
    if not _PASSPORT.match(number) or not any(c.isdigit() for c in number):
        return Text(
            "“%(number)s” is not a passport number: expected 5 to 20 letters and digits (a Vietnamese "
            "passport is one letter and 7 digits).",
            number=number,
        )
    return None


def budget_code_error(code: str) -> Text | None:
    """The code of a unit with budget relations (mã số đơn vị có quan hệ với ngân sách): 7 digits."""
    code = (code or "").strip()
    if not _BUDGET_CODE.match(code):
        return Text(
            "“%(code)s” is not a budget-relation unit code: expected exactly 7 digits.",
            code=code,
        )
    return None

"""Numbers that arrive over HTTP (`?page=N`, `/incidents/ID`, `Last-Event-ID`): ASCII digits
only, and bounded before they are converted.

`str.isdigit()` and the regex `\\d` also accept `²` and `٣`; `int()` then fails on the first
(ValueError) and takes the second for a 3. 5,000 digits exceed Python's integer-string limit
(ValueError again), and 23 fit in no database column (OverflowError deep in the driver).
Each of those was a 500 with a traceback; here they are just not a number we serve.
"""

from __future__ import annotations

_ASCII_DIGITS = frozenset("0123456789")


def parse_whole(text: str | None, *, lowest: int, highest: int) -> int | None:
    """`text` as an integer in [lowest, highest] when it is written in ASCII digits only
    (no sign, no spaces, no underscores); otherwise None."""
    if not text or not _ASCII_DIGITS.issuperset(text):
        return None
    # Leading zeros are harmless but must not let a long string reach int().
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(highest)):
        return None
    value = int(digits)
    return value if lowest <= value <= highest else None

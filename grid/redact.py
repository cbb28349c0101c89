"""Scrubbing free text for public display (the public Open311 read): phone numbers, ID numbers
and e-mail addresses typed into a description are replaced before it leaves the service.

The rule is deliberately blunt: any run of seven or more digits (Arabic or full-width, with
spaces, dots or dashes between them, and an ID number's final ``X``) is a number a person may
be reached or identified by — mobiles (11 digits), landlines (7–8 with an area code), ID
numbers (15 or 18) — and goes; shorter numbers (a building's 3号楼, a date's 2024, a room's
1203) stay, so the text still says what the problem is.
"""

from __future__ import annotations

import re

#: What replaces a scrubbed number or address.
MASK = "[已隐去 removed]"

_NUMBER = re.compile(r"(?<![\d０-９])\+?[\d０-９](?:[\s.\-－—()（）]*[\d０-９]){6,}[xXｘＸ]?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def scrub(text: str | None) -> str | None:
    """``text`` with phone numbers, ID numbers and e-mail addresses replaced by ``MASK``."""
    if not text:
        return text
    return _NUMBER.sub(MASK, _EMAIL.sub(MASK, text))

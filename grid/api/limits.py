"""Input limits shared by every router: bad input is a 422 from the schema, before any query.

* ids, versions, offsets and counts fit the INTEGER (int32) columns they are compared with —
  a larger number would overflow the driver (SQLite) or the server (PostgreSQL) mid-query;
* text is bounded in length and never holds NUL (``\\x00``), which PostgreSQL refuses in text;
* lists of ids are bounded;
* enums are enums: ``?level=`` (empty) is refused, not taken for "no filter".

Use the ``Annotated`` types below in path, query, form and body fields alike: FastAPI and
pydantic apply the same constraints and publish them in the OpenAPI document, which is what
schemathesis (``tests/test_fuzz_api.py``) generates its requests from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge, Le, Len
from pydantic import StringConstraints

#: The largest value of an INTEGER column on both stores (PostgreSQL's int4).
INT32_MAX = 2**31 - 1
#: Any text without NUL (JSON Schema / ECMA regex, as the OpenAPI document publishes it).
NO_NUL = r"^[^\x00]*$"
#: Unit codes: ``String(32)`` columns (see the migrations), printable, no spaces.
CODE_PATTERN = r"^[^\x00-\x20\x7f]*$"
#: Most ids one request may name (attachments of a step, ids of a filter).
MAX_IDS = 50

#: A row id (incident, attachment, boundary version, queued address …).
RowId = Annotated[int, Ge(1), Le(INT32_MAX)]
#: A count or an offset.
Count = Annotated[int, Ge(0), Le(INT32_MAX)]
#: Up to MAX_IDS row ids.
RowIds = Annotated[list[RowId], Len(0, MAX_IDS)]
#: A unit code (street, community, grid, building or resident group) or a code prefix.
Code = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=CODE_PATTERN)]
#: A short name (a category, a department, a layer, a file's field …).
Name = Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)]
#: A note, a reason or instructions.
Note = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
#: A description or an address list.
LongText = Annotated[str, StringConstraints(max_length=4000, pattern=NO_NUL)]
#: The states an incident can be in (``grid.incidents.ladder``).
IncidentState = Literal["open", "whistled", "resolved", "closed", "rated", "merged"]
#: A token as ``grid user add`` makes them (``secrets.token_urlsafe``): URL-safe base64, so
#: a link or a cookie can carry it as it is.
Token = Annotated[str, StringConstraints(min_length=1, max_length=128,
                                         pattern=r"^[A-Za-z0-9_-]+$")]
#: A year and month, ``YYYY-MM``.
Month = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}$")]


def text(max_length: int, min_length: int = 0) -> type[str]:
    """Text of at most ``max_length`` characters (at least ``min_length``), without NUL."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,
                                            pattern=NO_NUL)]  # type: ignore[return-value]


def parse_row_id(value: str) -> int | None:
    """``value`` as a row id if it is one written in ASCII digits (``"²"`` is a digit to
    ``str.isdigit`` but no number ``int`` reads), else None."""
    if not (value.isascii() and value.isdecimal()) or len(value) > 10:
        return None
    number = int(value)
    return number if 1 <= number <= INT32_MAX else None

"""Headers of a file download."""

from __future__ import annotations

import re
from urllib.parse import quote

#: What may stay in the plain ``filename=`` (the rest goes to ``filename*``, RFC 6266).
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]')


def attachment_headers(filename: str) -> dict[str, str]:
    """``Content-Disposition: attachment`` for ``filename``: an ASCII ``filename`` for old
    clients and the exact name, UTF-8 and percent-encoded, as ``filename*`` (RFC 6266 /
    RFC 5987) — a header is Latin-1, so a unit code or a name in Chinese cannot go in as is."""
    plain = _UNSAFE.sub("_", filename)
    return {"Content-Disposition": f"attachment; filename=\"{plain}\"; "
                                   f"filename*=UTF-8''{quote(filename, safe='')}"}

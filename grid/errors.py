"""The domain's one error hierarchy.

Every error carries a stable ``code`` and a message a user can act on; the API maps the classes to
HTTP statuses in one place (``grid.api.errors``). Domain code never raises HTTP exceptions.
"""

from __future__ import annotations

from typing import Any


class GridError(Exception):
    """Base of every error the service reports to a user."""

    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(GridError):
    """The unit, incident, version or user asked for does not exist."""

    code = "not_found"


class InvalidInput(GridError):
    """The request or the file is malformed: a bad coordinate, an unknown category …"""

    code = "invalid_input"


class NotAuthenticated(GridError):
    """No token, or a token nobody holds."""

    code = "not_authenticated"


class Forbidden(GridError):
    """The caller's role or scope does not allow this."""

    code = "forbidden"


class MoveNotAllowed(GridError):
    """A ladder move that the incident's state or level does not allow (409)."""

    code = "move_not_allowed"


class Conflict(GridError):
    """Someone else changed the thing at the same time; nothing was written."""

    code = "conflict"


class CalendarNotCovered(GridError):
    """A deadline would fall on a day whose public holidays no source knows (503: the
    deployment needs the year's State Council notice as a data file)."""

    code = "calendar_not_covered"


class LoadError(GridError):
    """A boundary file cannot be loaded as it is."""

    code = "load_error"

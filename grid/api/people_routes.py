"""The routers of the people in the loop (issue 14), registered together by the app factory."""

from grid.api import deliberation, people, people_pages, rounds

PEOPLE_ROUTERS = (people.router, deliberation.router, rounds.router, people_pages.router)

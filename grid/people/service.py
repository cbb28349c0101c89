"""The people-in-the-loop engines, built once per deployment (``grid.services.Services``)."""

from __future__ import annotations

from grid.hotline.queue import GazetteerCache
from grid.incidents.ladder import Ladder
from grid.people.config import PeopleBook
from grid.people.deliberation import Deliberation
from grid.people.members import Members
from grid.people.orders import Orders
from grid.people.rounds import Rounds


class People:
    """Members, orders, deliberation and rounds, sharing the configuration and the ladder."""

    def __init__(self, book: PeopleBook, ladder: Ladder, gazetteers: GazetteerCache,
                 pii_key: str | None, timezone: str = "Asia/Shanghai") -> None:
        self.book = book
        self.timezone = timezone
        self.members = Members(book, gazetteers, pii_key)
        self.orders = Orders(book, ladder, ladder.locators, pii_key)
        self.deliberation = Deliberation(book, ladder, self.orders)
        self.rounds = Rounds(book, ladder, timezone)

"""The running service's parts, built once from settings and shared by the API and the CLI."""

from __future__ import annotations

from grid.db import Database
from grid.hotline.queue import GazetteerCache
from grid.incidents.calendar import HolidaySchedule, WorkCalendar
from grid.incidents.categories import load_categories
from grid.incidents.ladder import Ladder
from grid.overlays.match import OverlayDirectory
from grid.people.config import load_people
from grid.people.service import People
from grid.settings import Settings
from grid.spatial.locator import LocatorCache
from grid.spatial.places import PlaceDirectory
from grid.users import TokenCache


class Services:
    """Database, categories, the locator cache and the ladder for one deployment.

    Building it reads the categories and holiday files (so a bad file stops start-up with its
    reason) but
    opens no database connection.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings)
        self.categories = load_categories(settings.categories_file)
        self.locators = LocatorCache(settings.locate_snapshot_dir)
        self.calendar = WorkCalendar(settings.work_hours, settings.work_timezone,
                                     HolidaySchedule(settings.holidays_file))
        self.overlays = OverlayDirectory(self.db, settings.locate_cache_seconds,
                                         settings.street_chief_distance_m,
                                         settings.work_timezone)
        self.ladder = Ladder(self.categories, self.locators, self.calendar,
                             settings.report_in_minutes, overlays=self.overlays)
        self.gazetteers = GazetteerCache()
        self.tokens = TokenCache(settings.token_cache_seconds)
        self.places = PlaceDirectory(self.db, self.locators, settings.locate_cache_seconds)
        self.people = People(load_people(settings.people_file), self.ladder, self.gazetteers,
                             settings.pii_key, settings.work_timezone)

    def close(self) -> None:
        """Release pooled connections."""
        self.db.dispose()

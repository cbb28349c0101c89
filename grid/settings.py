"""Settings, read once from the environment (prefix ``GRID_``) and passed in explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DATA = Path(__file__).parent / "data"

#: Code widths per level, after a 6-digit county code (GB/T 2260). DB11/T 2157-2023 gives
#: 3 + 3 + 3 for street, community and grid; buildings and resident groups extend the grid code.
DEFAULT_CODE_WIDTHS = {
    "county": 6,
    "street": 3,
    "community": 3,
    "grid": 3,
    "building": 3,
    "resident_group": 2,
}


class Settings(BaseSettings):
    """Everything configurable about one deployment.

    ``database_url`` selects the store: a ``sqlite:///`` URL is SpatiaLite (the embedded default,
    one file that QGIS opens too); ``postgresql+psycopg://`` is PostGIS (production).
    """

    model_config = SettingsConfigDict(env_prefix="GRID_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./grid.db"
    #: Library SpatiaLite is loaded from; Debian's libsqlite3-mod-spatialite installs it on
    #: the loader path, so the bare module name works.
    spatialite_library: str = "mod_spatialite"
    categories_file: Path = PACKAGE_DATA / "categories.yaml"
    #: Skills, order offering, 民情 categories and deliberation procedures (issue 14).
    people_file: Path = PACKAGE_DATA / "people.yaml"
    code_widths: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_CODE_WIDTHS))
    #: Boundary loads of at least this many rows get their own partition of ``unit`` on PostGIS:
    #: COPYed into an unindexed table, its indexes built once, attached at the end of the load
    #: (migration 0009). Smaller loads insert into the shared partition.
    load_partition_rows: int = Field(default=20_000, gt=0)
    #: Largest boundary file a load reads, and the most a zip may inflate to, in bytes; and
    #: the most any zip member may inflate relative to its packed size (zip bombs run at
    #: 1000:1 and more; a sparse .dbf at a few dozen). See ``grid.spatial.inputs``.
    load_max_bytes: int = Field(default=2 * 1024**3, gt=0)
    load_max_ratio: float = Field(default=200.0, gt=1)
    #: Language of user-facing text when a request does not ask: "zh" or "en".
    language: str = "zh"
    #: URL prefix the vendored Leaflet/Folium assets are served under.
    static_url: str = "/static"
    #: Key protecting personal data (ID numbers, phones) at rest: a Fernet-style urlsafe base64
    #: 32-byte key (``grid residents keygen`` prints one). Unset: personal data is never stored.
    pii_key: str | None = None
    #: Incident workflow (issue 5): working periods of a working day, their time zone, the
    #: minutes a summoned department has to report in (部门报到), attachments on disk.
    work_hours: str = "09:00-12:00,13:30-17:30"
    work_timezone: str = "Asia/Shanghai"
    #: The State Council's yearly holiday notices as data (``grid.incidents.calendar``,
    #: ``read_holiday_file``), for years the ``holidays`` package does not carry yet; read and
    #: validated at start.
    holidays_file: Path | None = None
    #: ``/health`` warns this many days before the holiday data runs out.
    holidays_warn_days: int = Field(default=45, ge=0, le=366)
    report_in_minutes: int = Field(default=30, gt=0)
    attachments_dir: Path = Path("./attachments")
    #: Where boundary files uploaded through ``/api/v1/gis/uploads`` wait for their commit
    #: (unset: this host's temporary directory). Attachments and uploads are the only files
    #: a request leaves for a later request: with several hosts behind a load balancer both
    #: must be directories every host mounts (an NFS share, say).
    uploads_dir: Path | None = None
    #: Directory of the locate snapshot (定位快照, grid/spatial/snapshot.py): the active
    #: version's cell indexes as flat arrays, written at ``grid activate`` (or by the first
    #: process that needs them) and memory-mapped by every server worker and ``grid place``,
    #: so N workers hold one copy. Unset: each process builds its own locator in memory.
    locate_snapshot_dir: Path | None = None
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    #: Open311 GeoReport v2 keys allowed to POST requests, and the account they file as.
    open311_api_keys: dict[str, str] = Field(default_factory=dict)
    #: What the public Open311 read (GET requests) shows of a case's free text (description,
    #: status notes): "scrubbed" — phone, ID numbers and e-mails replaced (grid.redact) — or
    #: "withheld" — none of it. Names and contacts are never shown.
    open311_descriptions: Literal["scrubbed", "withheld"] = "scrubbed"
    #: Basemap under the maps (issue 6): "none" draws boundaries only and requests no tile (the
    #: intranet default); "osm", "tianditu" (needs ``tianditu_key``) or "amap" (GCJ-02: overlays
    #: are shifted for display). ``basemap_url`` replaces the tile URL (an intranet tile mirror).
    basemap: Literal["none", "osm", "tianditu", "amap"] = "none"
    basemap_url: str | None = None
    tianditu_key: str | None = None
    #: Connections each server process keeps open (and may add beyond that under a burst).
    #: A request that finds none idle opens a new one, and one returned to a full pool is
    #: closed: with fewer than the concurrent requests, most requests pay a PostgreSQL
    #: backend start (SQLAlchemy's default of 5 did, under 16 concurrent POSTs).
    db_pool_size: int = Field(default=20, gt=0)
    db_max_overflow: int = Field(default=10, ge=0)
    #: A pooled PostgreSQL connection idle longer than this is pinged (``SELECT 1``) before
    #: use, and replaced if the server dropped it; 0 pings on every use.
    db_ping_idle_seconds: float = Field(default=1.0, ge=0)
    #: Incident reports computed at once per server process (POST /incidents); the others
    #: wait their turn without holding a thread. The work is CPU-bound Python, so about the
    #: number of cores per process, plus one for the time spent waiting on the database.
    report_concurrency: int = Field(default=3, gt=0)
    #: Group commit for reports on PostGIS (``grid.incidents.inserts.ReportWriter``): the
    #: reports arriving while one transaction commits are written together in the next,
    #: each answered only once the transaction holding its rows has committed. Off (0): one
    #: transaction per report.
    report_batch: bool = True
    #: At most this many reports in one transaction.
    report_batch_max: int = Field(default=64, gt=0, le=1000)
    #: Seconds an authenticated token is remembered per server process (0: look up every
    #: call). A rotated token or deactivated user keeps working at most this long.
    token_cache_seconds: float = Field(default=10.0, ge=0)
    #: Seconds ``GET /locate`` may answer from memory before Party organisations, grid workers
    #: and the active version are re-read (in the background; 0: ask the database every call).
    locate_cache_seconds: float = Field(default=5.0, ge=0)
    #: Overlays (issue 13): a point is "on" a street/lane segment, and its chief concerned,
    #: within this many metres of the centreline (measured in the local Gauss-Krüger zone).
    street_chief_distance_m: float = Field(default=50.0, gt=0, le=1000)
    #: Weights of the three rates (响应率, 解决率, 满意率) in the monthly composite score.
    rate_weights: dict[str, float] = Field(
        default_factory=lambda: {"response": 0.3, "resolution": 0.4, "satisfaction": 0.3})

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql+psycopg://", "postgresql://")):
            raise ValueError(
                "GRID_DATABASE_URL must be sqlite:///FILE (SpatiaLite) or "
                "postgresql+psycopg://… (PostGIS)"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in ("zh", "en"):
            raise ValueError("GRID_LANGUAGE must be 'zh' or 'en'")
        return value

    @model_validator(mode="after")
    def _basemap_key(self) -> Settings:
        if self.basemap == "tianditu" and not (self.tianditu_key or self.basemap_url):
            raise ValueError("GRID_BASEMAP=tianditu needs GRID_TIANDITU_KEY (天地图密钥)")
        return self

    @model_validator(mode="after")
    def _widths_complete(self) -> Settings:
        missing = set(DEFAULT_CODE_WIDTHS) - set(self.code_widths)
        if missing:
            raise ValueError(f"GRID_CODE_WIDTHS lacks widths for: {', '.join(sorted(missing))}")
        if any(w <= 0 for w in self.code_widths.values()):
            raise ValueError("GRID_CODE_WIDTHS must all be positive")
        return self

    @property
    def is_spatialite(self) -> bool:
        """True when the store is the embedded SpatiaLite file."""
        return self.database_url.startswith("sqlite")

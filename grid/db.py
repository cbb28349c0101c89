"""Engines and sessions for both stores: SpatiaLite (embedded default) and PostGIS.

Python builds without SQLite extension loading are common (this project's CI runs on one), so
SpatiaLite goes through the ``sqlean.py`` DB-API module, which can always load extensions.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial
from typing import TYPE_CHECKING

import sqlean
from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker

from grid.settings import Settings

if TYPE_CHECKING:  # the asyncio pool is the server's; a CLI command never opens it
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

#: Storage CRS: CGCS2000 geographic (EPSG:4490), China's official datum, within a metre of WGS 84.
#: Degrees keep the file readable in QGIS and match what phones send; areas and distances are
#: computed in a Gauss-Krüger zone chosen from the data (see ``grid.spatial.crs``).
STORAGE_SRID = 4490


def _sqlite_on_connect(dbapi_conn, record, library: str) -> None:
    # Load GDAL (through pyogrio) before SpatiaLite is loaded. SQLite loads extensions with
    # RTLD_GLOBAL, so mod_spatialite's system libsqlite3 becomes global; a GDAL wheel loaded
    # after that binds its bundled SQLite calls to the system copy and crashes in the
    # GeoPackage driver (seen: segfault writing a .gpkg after a SpatiaLite session). Loaded
    # first, GDAL keeps its own bindings. Here, not at import: pyogrio brings pandas and
    # geopandas (about a second), which a PostGIS process such as `grid place` need not load.
    import pyogrio  # noqa: F401
    from geoalchemy2 import load_spatialite

    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", library)
    # Let SQLAlchemy (not the driver) decide where transactions begin; see _sqlite_on_begin.
    dbapi_conn.isolation_level = None
    load_spatialite(dbapi_conn, transaction=True)
    dbapi_conn.execute("PRAGMA foreign_keys = ON")
    dbapi_conn.execute("PRAGMA busy_timeout = 30000")
    dbapi_conn.execute("PRAGMA journal_mode = WAL")


def _sqlite_on_begin(conn) -> None:
    # Writers take the write lock at BEGIN (IMMEDIATE) so two processes never both read, then
    # race to upgrade a shared lock — the case where SQLite fails at once instead of waiting.
    if conn.get_execution_options().get("write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(settings: Settings) -> Engine:
    """Build the engine for the configured store; nothing connects until first use."""
    if settings.is_spatialite:
        engine = create_engine(settings.database_url, module=sqlean, connect_args={"timeout": 30},
                               pool_size=settings.db_pool_size,
                               max_overflow=settings.db_max_overflow)
        event.listen(
            engine,
            "connect",
            partial(_sqlite_on_connect, library=settings.spatialite_library),
        )
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return _postgres_engine(settings, create_engine)


def _postgres_engine(settings: Settings, create):
    """A PostgreSQL engine from ``create`` (``create_engine`` or ``create_async_engine``):
    the pool sized by the settings, connections pinged when idle."""
    idle = settings.db_ping_idle_seconds
    engine = create(settings.database_url, pool_pre_ping=idle <= 0,
                    pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    if idle > 0:
        _ping_when_idle(getattr(engine, "sync_engine", engine), idle)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's pre-ping (a ``SELECT 1`` before a pooled connection is handed out, so a
    connection the server dropped is replaced instead of failing the request), only for a
    connection that sat in the pool longer than ``idle_seconds``. Under load a connection
    comes back within milliseconds, and a ping on each checkout was one more round trip
    and statement per request (the report path's first). A server restart inside that
    window fails one request per process, with an error (nothing acknowledged); the
    disconnect invalidates the whole pool, as a failed pre-ping does."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def returned(dbapi_conn, record) -> None:
        record.info["grid_returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def ping(dbapi_conn, record, proxy) -> None:
        returned_at = record.info.get("grid_returned")
        if returned_at is None or time.monotonic() - returned_at <= idle_seconds:
            return  # fresh from connect, or back in the pool only just now
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_conn, None):
                # As a failed pre-ping: the pool retries with a new connection.
                raise exc.InvalidatePoolError() from err
            raise


class Database:
    """An engine plus session factories; one per application or CLI run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Write sessions are bound to a copy of the engine carrying ``write=True``, so the
        # transaction (SQLite: BEGIN IMMEDIATE, see _sqlite_on_begin) starts at the first
        # statement, not when the session is made. A request that opens its write session
        # and then fails authentication, or waits for another dependency, holds neither a
        # pooled connection nor SQLite's write lock meanwhile.
        self._write_sessions = sessionmaker(self.engine.execution_options(write=True),
                                            expire_on_commit=False)
        self._autocommit_sessions = None if settings.is_spatialite else sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        self._async_base: AsyncEngine | None = None
        self._async_engine: AsyncEngine | None = None

    @property
    def is_spatialite(self) -> bool:
        """True for the embedded store."""
        return self.settings.is_spatialite

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; rolled back at the end."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self, commit: bool = True) -> Iterator[Session]:
        """A session whose work commits together or not at all.

        With ``commit=False`` the same work runs and is rolled back: a dry run that exercises
        exactly the code path a real write would.
        """
        with self._write_sessions() as session:
            try:
                yield session
                if commit:
                    session.commit()
                else:
                    session.rollback()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def single_statement(self) -> Iterator[Session]:
        """A session for work whose only write is one statement (PostgreSQL: atomic by
        itself): it runs in autocommit, sparing the BEGIN and COMMIT round trips. Anything
        needing two writes to commit together must use ``write``. SpatiaLite, in process,
        has no round trips to spare and gets an ordinary ``write`` session."""
        if self._autocommit_sessions is None:
            with self.write() as session:
                yield session
            return
        with self._autocommit_sessions() as session:
            yield session

    @property
    def has_async(self) -> bool:
        """True while the asyncio pool is open (``open_async``)."""
        return self._async_engine is not None

    def open_async(self) -> None:
        """Open (lazily: nothing connects yet) a second pool, of asyncio connections, for the
        PostgreSQL work an event loop awaits itself instead of handing a thread (the
        report's INSERT). Call it on the loop that will use it, and ``close_async`` before
        that loop ends: asyncio connections belong to one loop. SpatiaLite has none."""
        if self.is_spatialite or self._async_engine is not None:
            return
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = _postgres_engine(self.settings, create_async_engine)
        self._async_base = engine
        self._async_engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def close_async(self) -> None:
        """Close the asyncio pool, on the loop that used it."""
        engine, self._async_base, self._async_engine = self._async_base, None, None
        if engine is not None:
            await engine.dispose()

    @asynccontextmanager
    async def async_statement(self) -> AsyncIterator[AsyncConnection]:
        """An asyncio connection for one statement, in autocommit (as ``single_statement``);
        needs ``open_async``."""
        if self._async_engine is None:
            raise RuntimeError("the asyncio pool is not open (Database.open_async)")
        async with self._async_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def async_connection(self) -> AsyncIterator[AsyncConnection]:
        """An asyncio connection for a transaction the caller begins and commits (several
        statements committed together: ``grid.incidents.inserts.ReportWriter``); needs
        ``open_async``."""
        if self._async_base is None:
            raise RuntimeError("the asyncio pool is not open (Database.open_async)")
        async with self._async_base.connect() as conn:
            yield conn

    def dispose(self) -> None:
        """Close every pooled connection (the asyncio pool has its own ``close_async``)."""
        self.engine.dispose()

"""The ``grid`` command: demo, serve, load, versions, activate, users, escalate-due."""

from __future__ import annotations

import gc

# No cycle collection while the modules below load (hundreds of thousands of objects, none of
# them garbage): a quarter of a second of every command's start-up. Resumed after the imports.
gc.disable()
# ruff: noqa: E402  (the imports follow the pause on purpose)

import importlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from grid.errors import GridError
from grid.hierarchy.levels import parse_level
from grid.settings import PACKAGE_DATA, Settings

if TYPE_CHECKING:  # imported when used: `grid load` need not pay for the services
    from grid.services import Services

gc.enable()


class _Commands(TyperGroup):
    """The ``grid`` group, whose command groups from other packages are imported when one of
    them is run (or help lists them), not for every command: their imports (spreadsheets,
    geopandas, the hotline's matcher) were about a second of `grid place`'s start-up."""

    #: name → (module, Typer attribute), in the order help lists them.
    LAZY = {"residents": ("grid.residents.cli", "residents_app"),
            "hotline": ("grid.hotline.cli", "hotline_app"),
            "workflow": ("grid.incidents.cli", "workflow_app"),
            "overlays": ("grid.overlays.cli", "overlays_app")}

    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in self.LAZY if n not in self.commands)]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            module, attribute = self.LAZY[cmd_name]
            group = typer.main.get_group(getattr(importlib.import_module(module), attribute))
            group.name = cmd_name
            self.add_command(group, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(cls=_Commands, help="党建引领五级网格化治理 grid governance service",
                  no_args_is_help=True)
user_app = typer.Typer(help="用户与令牌 users and tokens", no_args_is_help=True)
app.add_typer(user_app, name="user")
console = Console()


def upgrade(db) -> None:
    """Bring the schema up to date (``grid.migrate.upgrade``, imported when a command runs)."""
    from grid.migrate import upgrade as up

    up(db)
# The sample street and its overlays ship inside the package (grid/data/sample and
# grid/data/overlays link to data/boundaries and data/overlays), so a plain `pip install .` runs
# the demo too.
SAMPLE_DATA = PACKAGE_DATA / "sample"


def _services() -> Services:
    from grid.services import Services

    svc = Services(Settings())
    upgrade(svc.db)
    return svc


def _fail(exc: GridError) -> None:
    console.print(f"[red]错误 error:[/red] {exc.message}")
    if exc.details:
        for line in exc.details if isinstance(exc.details, list) else [exc.details]:
            console.print(f"  - {line}")
    raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    svc = _services()
    console.print(f"数据库已是最新 schema up to date: {svc.settings.database_url}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, help="server processes (about one per core), "
                                                    "forked from one that has loaded the "
                                                    "service (grid.api.prefork)")] = 1,
    log_level: Annotated[str, typer.Option(help="critical|error|warning|info|debug")] = "info",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log")] = True,
) -> None:
    """Run the API and map server."""
    from grid.api.app import create_app

    _services().close()  # migrated; no connection is left open to be inherited by a worker
    settings = Settings()

    def make_app():
        from grid.api.health import calendar_status

        app = create_app(settings)
        services = app.state.services
        # With GRID_LOCATE_SNAPSHOT_DIR, open the snapshot — and read what a locate answer
        # says besides codes — before the first request; with workers, before forking them,
        # so all of it is one copy they share (grid.api.prefork). The connections this used
        # are closed again: a worker must not inherit them.
        if services.locators.preload() and services.places.fresh_seconds > 0:
            services.places.refresh()
            services.db.dispose()
        # The holiday tables every worker reads at start (health.log_calendar) and for every
        # deadline: ~14 MB made once here rather than in each worker.
        calendar_status(services)
        return app

    if workers == 1:
        import uvicorn

        uvicorn.run(make_app(), host=host, port=port, log_level=log_level,
                    access_log=access_log)
    else:
        from grid.api import prefork

        prefork.serve(make_app, host, port, workers, log_level=log_level,
                      access_log=access_log)


@app.command()
def demo(
    host: str = "127.0.0.1",
    port: int = 8000,
    data: Annotated[Path, typer.Option(help="sample boundary folder")] = SAMPLE_DATA,
    serve_: Annotated[bool, typer.Option("--serve/--no-serve")] = True,
) -> None:
    """Build the demo database from data/boundaries, add sample incidents, and serve it."""
    from grid.demo import (
        DEMO_STREET,
        demo_users,
        load_sample,
        sample_incidents,
        sample_residents,
    )
    from grid.hierarchy import store
    from grid.sessions import LINK_MINUTES, issue_link

    svc = _services()
    try:
        with svc.db.read() as session:
            active = store.active_version(session)
            has_street = active and store.units(session, active.id, codes=[DEMO_STREET])
        if has_street:
            console.print(f"示例边界已加载 sample boundaries already loaded (version {active.id})")
        else:
            with console.status("加载示例边界 loading the sample street…"):
                version = load_sample(svc, data, console.print)
            console.print(f"[green]已启用版本 activated version {version}[/green]")
        with svc.db.read() as session:
            version = store.require_active_version(session).id
            grid = store.units(session, version, parse_level("grid"))[0].code
        users = demo_users(svc, grid)
        from grid.overlays.files import load_sample_overlays

        if load_sample_overlays(svc.db, data.parent / "overlays", svc.categories.departments,
                                console.print):  # data/overlays: 临时党支部, 街巷长, 驻区单位
            console.print("[green]示例叠加图层已加载 sample overlays loaded[/green]")
        added = sample_incidents(svc)
        console.print(f"示例事件 sample incidents added: {added}")
        registered = sample_residents(svc)
        console.print("示例居民 sample residents: " + (
            "需设置 GRID_PII_KEY (grid residents keygen) set GRID_PII_KEY to add them"
            if registered is None else f"{registered} added"))
    except GridError as exc:
        _fail(exc)
    base = f"http://{host}:{port}"
    console.print("演示用户及令牌 demo users and their tokens (API: Authorization: Bearer …):")
    for user in users:
        console.print(f"  {user.name} ({user.role}, {user.scope or '*'}): {user.token}",
                      soft_wrap=True)
    console.print("\n[bold]一次性登录链接 one-time sign-in links[/bold] (each works once, for "
                  f"{LINK_MINUTES} minutes; `grid user link NAME` makes a new one):")
    with svc.db.write() as session:
        for user in users:
            console.print(f"  {user.name}: {base}/signin/link/{issue_link(session, user.name)}",
                          soft_wrap=True)
    console.print(f"[bold]登录页 sign-in page:[/bold] {base}/signin   "
                  f"[bold]街道地图 street map:[/bold] {base}/maps/streets/{DEMO_STREET}",
                  soft_wrap=True)
    console.print(f"[bold]API 文档 docs:[/bold] {base}/docs")
    if serve_:
        import uvicorn

        from grid.api.app import create_app

        uvicorn.run(create_app(Settings()), host=host, port=port)


@app.command()
def load(
    path: Path,
    level: Annotated[str, typer.Option(help="street|community|grid|building|resident_group")],
    commit: Annotated[bool, typer.Option(help="write; without it, a dry run")] = False,
    version: Annotated[int | None, typer.Option(help="load into this inactive version")] = None,
    label: str | None = None,
    code_field: Annotated[str | None, typer.Option(help="code column; default: guess")] = None,
    name_field: Annotated[str | None, typer.Option(help="name column; default: guess")] = None,
    parent_field: Annotated[str | None, typer.Option(help="parent-code column")] = None,
    fields: Annotated[Path | None, typer.Option(help="YAML field map: code, name, "
                                                     "parent_code")] = None,
    encoding: Annotated[str | None, typer.Option(help="attribute encoding, e.g. GB18030; "
                                                       "default .cpg or detected")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS when the file has none")] = None,
    layer: str | None = None,
    repair: Annotated[bool, typer.Option(help="repair invalid polygons (make_valid)")] = False,
    intended_gaps: Annotated[Path | None, typer.Option(help="polygons of intended gaps")] = None,
    problems_map: Annotated[Path | None, typer.Option(
        "--map", help="write a Folium map of the problems to this .html")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Load one level's boundaries into a new (or given inactive) version. Dry run by default."""
    from grid.db import Database
    from grid.spatial.loader import load_boundaries

    # the database alone: a load needs none of the services' files, caches and imports
    settings = Settings()
    db = Database(settings)
    upgrade(db)
    try:
        with console.status(f"读取并检查 reading and checking {path.name}…"):
            report = load_boundaries(
                db, path, parse_level(level), commit=commit, version_id=version,
                label=label, code_field=code_field, name_field=name_field, crs=crs,
                layer=layer, parent_field=parent_field, fields_file=fields, encoding=encoding,
                repair=repair, intended_gaps=intended_gaps,
            )
    except GridError as exc:
        _fail(exc)
    if problems_map is not None:
        from maps.problems import write_problems_file

        write_problems_file(problems_map, report.problems, report.unit_shapes,
                            lang=settings.language, title=f"{path.name} · {level}")
    if as_json:
        console.print_json(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        _print_load_report(report)
    if report.errors:
        raise typer.Exit(1)
    if commit:
        console.print(f"[green]已写入版本 written to version {report.version_id}[/green] "
                      f"(未启用 inactive): grid activate {report.version_id}")
    else:
        console.print("试运行，未写入 dry run, nothing written: add --commit to write")


def _print_load_report(report) -> None:
    from grid.spatial.validate import report_table

    console.print(f"编码 encoding: {report.encoding}  坐标系 CRS: {report.crs or '—'}  "
                  f"字段 fields: {report.fields}", soft_wrap=True)
    summary = report.summary()
    table = Table("项目 item", "数量 count")
    for key in ("rows", "added", "changed", "unchanged", "removed", "errors", "warnings"):
        table.add_row(key, str(summary[key]))
    console.print(table)
    if report.problems:
        problems = Table("级别 severity", "类型 kind", "编码 codes", "面积 m²", "位置 point",
                         "说明 message")
        rows = report_table(report.problems[:200])
        for row in rows:
            problems.add_row(*row)
        keep_codes_whole(problems, rows, (1, 2, 4))
        console.print(problems)


def keep_codes_whole(table: Table, rows, columns) -> None:
    """Make ``columns`` of ``table`` at least as wide as the longest word in them and never
    ellipsised: a code is wrapped between codes, never cut (a narrow terminal folds the
    message column instead)."""
    for i in columns:
        longest = max((len(word) for row in rows for word in str(row[i]).split()), default=0)
        column = table.columns[i]
        column.min_width = max(column.min_width or 0, longest)
        column.overflow = "fold"


@app.command("load-orgs")
def load_orgs(path: Path, commit: bool = False) -> None:
    """Load Party organisations (CSV: unit_code, level, org_type, name, secretary, contact)."""
    from grid.spatial.loader import load_party_orgs

    try:
        count = load_party_orgs(_services().db, path, commit=commit)
    except GridError as exc:
        _fail(exc)
    console.print(f"党组织 Party organisations: {count}" + ("" if commit else " (dry run)"))


@app.command("load-workers")
def load_workers(path: Path, commit: bool = False) -> None:
    """Load grid workers (CSV: grid_code, name, phone, role)."""
    from grid.spatial.loader import load_grid_workers

    try:
        count = load_grid_workers(_services().db, path, commit=commit)
    except GridError as exc:
        _fail(exc)
    console.print(f"网格员 grid workers: {count}" + ("" if commit else " (dry run)"))


versions_app = typer.Typer(help="边界版本 boundary versions: list, diff")
app.add_typer(versions_app, name="versions")


@versions_app.callback(invoke_without_command=True)
def versions(ctx: typer.Context) -> None:
    """List boundary versions and their unit counts."""
    if ctx.invoked_subcommand is not None:
        return
    from grid.hierarchy import store

    svc = _services()
    table = Table("版本 id", "名称 label", "生效 active", "创建 created", "单元 units")
    table.columns[0].no_wrap = True
    with svc.db.read() as session:
        for v in store.list_versions(session):
            counts = store.unit_counts(session, v.id)
            table.add_row(str(v.id), v.label, "✔" if v.is_active else "",
                          f"{v.created_at:%Y-%m-%d %H:%M}",
                          ", ".join(f"{k} {n}" for k, n in counts.items()))
    console.print(table)


@versions_app.command("diff")
def versions_diff(
    old: int, new: int, as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Units added, removed and changed (% of area) from version OLD to NEW, by level."""
    from grid.hierarchy.versions import diff

    try:
        with _services().db.read() as session:
            changes = {k: v.as_dict() for k, v in diff(session, old, new).items()}
    except GridError as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps(changes, ensure_ascii=False))
        return
    table = Table("层级 level", "新增 added", "删除 removed", "变更 changed (% area)", "未变 same")
    rows = [(level, " ".join(d["added"]) or "—", " ".join(d["removed"]) or "—",
             " ".join(f"{c} ({p}%)" for c, p in d["changed"].items()) or "—",
             str(d["unchanged"])) for level, d in changes.items()]
    for row in rows:
        table.add_row(*row)
    keep_codes_whole(table, rows, (0, 1, 2, 3))
    console.print(table)


@app.command()
def rollback() -> None:
    """Re-activate the version that was active before the current one."""
    from grid.hierarchy.versions import rollback as roll_back

    try:
        with _services().db.write() as session:
            version = roll_back(session)
    except GridError as exc:
        _fail(exc)
    console.print(f"[green]已回退到版本 rolled back to version {version.id}[/green]")


@app.command()
def export(
    out: Path,
    level: Annotated[str, typer.Option(help="street|community|grid|building")],
    version: Annotated[int | None, typer.Option(help="boundary version; default active")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="gpkg|geojson|shp")] = None,
    encoding: Annotated[str, typer.Option(help="shapefile encoding: UTF-8 or GBK")] = "UTF-8",
) -> None:
    """Export one level of a version to GeoPackage, GeoJSON or shapefile (with .cpg)."""
    from grid.hierarchy import store
    from grid.spatial.export import export_level

    try:
        with _services().db.read() as session:
            version = version or store.require_active_version(session).id
            count = export_level(session, version, parse_level(level), out, fmt, encoding)
    except GridError as exc:
        _fail(exc)
    console.print(f"已导出 exported {count} {level} units of version {version} to {out}")


@app.command()
def activate(version: int) -> None:
    """Make a boundary version the active one (atomically)."""
    from grid.hierarchy import store

    svc = _services()
    try:
        with svc.db.write() as session:
            store.activate(session, version)
        snapshot_dir = svc.settings.locate_snapshot_dir
        if snapshot_dir is not None:
            from grid.spatial import snapshot

            with svc.db.read() as session:
                snapshot.ensure(snapshot_dir, session, version)
            console.print(f"定位快照 locate snapshot: {snapshot.current(snapshot_dir)}")
    except GridError as exc:
        _fail(exc)
    console.print(f"[green]已启用版本 activated version {version}[/green]")


@app.command()
def place(
    source: Path,
    out: Annotated[Path, typer.Option("--out", help="output .csv, .gpkg or .parquet")],
    lon: Annotated[str, typer.Option(help="longitude column")] = "lon",
    lat: Annotated[str, typer.Option(help="latitude column")] = "lat",
    crs: Annotated[str, typer.Option(help="wgs84|cgcs2000|gcj02|bd09|EPSG:NNNN")] = "cgcs2000",
    layer: Annotated[str | None, typer.Option(help="GeoPackage layer")] = None,
    chunk_rows: int = 200_000,
    version: Annotated[int | None, typer.Option(help="boundary version; default active")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="dask.distributed scheduler address, or 'local' for a LocalCluster")] = None,
    workers: Annotated[int, typer.Option(help="LocalCluster workers")] = 2,
    threads: Annotated[int, typer.Option(
        help="threads placing each chunk (default: one per core; with --scheduler, 1)")] = 0,
    overlays: Annotated[bool, typer.Option(
        help="add temporary_branch, street_segment, street_chief, building_head columns")]
    = True,
    on: Annotated[str | None, typer.Option(help="overlays valid on YYYY-MM-DD; default "
                                                "today")] = None,
) -> None:
    """Place every row of a CSV/GeoPackage/Parquet file in street, community, grid, building."""
    from grid.db import Database
    from grid.place import Placer, place_file, summary_table

    if threads <= 0:
        threads = 1 if scheduler else (os.cpu_count() or 1)
    # The database alone, as `grid load`: placing needs none of the services' imports (about a
    # second and a half of the command's start-up).
    settings = Settings()
    db = Database(settings)
    upgrade(db)
    try:
        from datetime import UTC, date, datetime

        from grid.overlays import local_day

        day = date.fromisoformat(on) if on else local_day(datetime.now(UTC),
                                                          settings.work_timezone)
        within = settings.street_chief_distance_m if overlays else None
        with db.read() as session:
            placer = Placer.from_db(session, version, threads=threads,
                                    overlays_within_m=within, day=day,
                                    snapshot_dir=settings.locate_snapshot_dir)
        if scheduler:
            from grid.spatial.distributed import place_distributed

            summary = place_distributed(placer, source, out, scheduler=scheduler,
                                        workers=workers, lon_col=lon, lat_col=lat, crs=crs,
                                        chunk_rows=chunk_rows, layer=layer)
        else:
            summary = place_file(placer, source, out, lon_col=lon, lat_col=lat, crs=crs,
                                 chunk_rows=chunk_rows, layer=layer)
    except GridError as exc:
        _fail(exc)
    console.print(summary_table(summary))


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(
        help="admin|gis|street|community|grid_worker|department|volunteer|party_org")],
    scope: Annotated[str, typer.Option(help="unit code whose subtree the user may act in")] = "",
    department: Annotated[str | None, typer.Option(
        help="the department (department) or the organisation's name (party_org)")] = None,
) -> None:
    """Create a user and print its token (shown once)."""
    from grid.users import add_user

    try:
        with _services().db.write() as session:
            _, token = add_user(session, name, role, scope, department)
    except GridError as exc:
        _fail(exc)
    print(token)


@user_app.command("link")
def user_link(
    name: str,
    base: Annotated[str, typer.Option(help="the server's address as users reach it")] =
    "http://127.0.0.1:8000",
) -> None:
    """Print a one-time sign-in link for a user (spent on first use; no token in it)."""
    from grid.sessions import issue_link

    try:
        with _services().db.write() as session:
            code = issue_link(session, name)
    except GridError as exc:
        _fail(exc)
    print(f"{base.rstrip('/')}/signin/link/{code}")


@app.command("escalate-due")
def escalate_due(
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="rows escalated per "
                                       "transaction (each holds its rows' locks)")] = 200,
) -> None:
    """Move every overdue incident up one level, and hand every order nobody took in time
    to its community (safe to run concurrently, from any number of hosts: each overdue row
    goes to one sweep)."""
    svc = _services()
    moved = svc.ladder.escalate_due(svc.db, batch=batch)
    console.print(f"已上报 escalated: {len(moved)}" + (f" {moved}" if moved else ""))
    orders = svc.people.orders.escalate_due(svc.db, batch=batch)
    console.print(f"订单转社区 orders escalated: {len(orders)}" + (f" {orders}" if orders else ""))


if __name__ == "__main__":
    app()

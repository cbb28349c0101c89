"""``grid overlays``: load and activate street/lane centrelines, load temporary branches,
chiefs, building heads and stationed units, list what applies at a point."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from grid.errors import GridError
from grid.hierarchy.levels import Level
from grid.migrate import upgrade
from grid.orm import utcnow
from grid.overlays import files, segments, store
from grid.settings import Settings

if TYPE_CHECKING:  # imported when used: `grid load` need not pay for the services
    from grid.services import Services

overlays_app = typer.Typer(help="叠加图层 overlays: 临时党支部, 街巷长, 楼栋长, 驻区单位",
                           no_args_is_help=True)
console = Console()
Commit = Annotated[bool, typer.Option(help="write; without it, a dry run")]
Crs = Annotated[str | None, typer.Option(help="CRS when the file has no .prj, e.g. EPSG:4548")]
Encoding = Annotated[str | None, typer.Option(help="attribute encoding, e.g. GB18030")]


def _services() -> Services:
    from grid.services import Services

    svc = Services(Settings())
    upgrade(svc.db)
    return svc


def _fail(exc: GridError) -> None:
    console.print(f"[red]错误 error:[/red] {exc.message}")
    raise typer.Exit(1)


def _done(count: int, what: str, commit: bool) -> None:
    verb = "已写入 written" if commit else "试运行 dry run: would write"
    console.print(f"{verb} {count} {what}")


@overlays_app.command("load-segments")
def load_segments(
    path: Path, commit: Commit = False,
    activate: Annotated[bool, typer.Option(help="activate the new version at once")] = False,
    label: Annotated[str | None, typer.Option(help="version label")] = None,
    crs: Crs = None, encoding: Encoding = None,
    layer: Annotated[str | None, typer.Option(help="GeoPackage layer")] = None,
    code_field: Annotated[str | None, typer.Option(help="code column (default DLBM/code…)")]
    = None,
    name_field: Annotated[str | None, typer.Option(help="name column (default DLMC/name…)")]
    = None,
    snap_m: Annotated[float, typer.Option(help="ends nearer than this to a line are near "
                                               "misses (m)")] = 5.0,
) -> None:
    """Load street/lane centrelines as a new segment version, with a validation report."""
    svc = _services()
    try:
        report = segments.load_segments(svc.db, path, commit=commit, activate=activate,
                                        label=label, crs=crs, encoding=encoding, layer=layer,
                                        code_field=code_field, name_field=name_field,
                                        snap_m=snap_m)
    except GridError as exc:
        _fail(exc)
    console.print(f"编码 encoding: {report.encoding} · 坐标系 CRS: {report.crs} · "
                  f"字段 fields: {report.fields}", soft_wrap=True)
    table = Table("类型 kind", "级别 severity", "编码 codes", "说明 message")
    for p in report.problems:
        table.add_row(p.kind, p.severity, ",".join(p.codes), p.message)
    if report.problems:
        console.print(table)
    crossing = {k: v for k, v in report.crossings.items() if len(v) > 1}
    for code, communities in crossing.items():
        console.print(f"  {code} 跨社区 crosses communities {', '.join(communities)}")
    console.print(f"{report.rows} 条 rows · {len(report.errors)} errors · "
                  f"{len(report.warnings)} warnings")
    if report.committed:
        console.print(f"[green]已写入街巷版本 written as segment version {report.version_id}"
                      f"{' (activated)' if report.activated else ''}[/green]")
    elif commit:
        console.print("[red]有错误，未写入 errors: nothing written[/red]")
        raise typer.Exit(1)
    else:
        console.print("试运行 dry run: pass --commit to write")


@overlays_app.command("activate-segments")
def activate_segments(version: int) -> None:
    """Make a segment version the active one."""
    svc = _services()
    try:
        with svc.db.write() as session:
            store.activate_segment_version(session, version)
    except GridError as exc:
        _fail(exc)
    console.print(f"[green]已启用街巷版本 activated segment version {version}[/green]")


@overlays_app.command("load-branches")
def load_branches(path: Path, commit: Commit = False, crs: Crs = None,
                  encoding: Encoding = None) -> None:
    """Load temporary Party branches (polygons with code, name, parent_org_code, dates)."""
    svc = _services()
    try:
        _done(files.load_branches(svc.db, path, commit=commit, crs=crs, encoding=encoding),
              "temporary branches 临时党支部", commit)
    except GridError as exc:
        _fail(exc)


@overlays_app.command("load-chiefs")
def load_chiefs(path: Path, commit: Commit = False) -> None:
    """Load street/lane chiefs from CSV (segment_code, tier, name, valid_from, …)."""
    svc = _services()
    try:
        _done(files.load_chiefs(svc.db, path, commit=commit), "chiefs 街巷长", commit)
    except GridError as exc:
        _fail(exc)


@overlays_app.command("load-heads")
def load_heads(path: Path, commit: Commit = False) -> None:
    """Load building heads from CSV (building_code, role, name, valid_from, …)."""
    svc = _services()
    try:
        _done(files.load_building_heads(svc.db, path, commit=commit),
              "building heads 楼栋长/单元长", commit)
    except GridError as exc:
        _fail(exc)


@overlays_app.command("load-units")
def load_units(path: Path, commit: Commit = False, crs: Crs = None,
               encoding: Encoding = None) -> None:
    """Load stationed units (points or polygons with code, name, street_code, dates, …)."""
    svc = _services()
    try:
        _done(files.load_stationed_units(svc.db, path, departments=svc.categories.departments,
                                         commit=commit, crs=crs, encoding=encoding),
              "stationed units 驻区单位", commit)
    except GridError as exc:
        _fail(exc)


@overlays_app.command("at")
def at(lon: float, lat: float,
       on: Annotated[str | None, typer.Option(help="date YYYY-MM-DD; default today")] = None
       ) -> None:
    """The overlays at a point (CGCS2000 lon/lat) on a day, as JSON."""
    svc = _services()
    day = date.fromisoformat(on) if on else store.local_day(utcnow(),
                                                            svc.settings.work_timezone)
    location = svc.places.locate(lon, lat)
    match = svc.overlays.match(lon, lat, day, location.codes.get(Level.building))
    console.print_json(json.dumps(match.as_dict(), ensure_ascii=False))

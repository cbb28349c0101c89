"""``grid hotline …``: match one address, or a CSV of hotline addresses, to buildings."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from grid.errors import GridError
from grid.tables import safe_cell

hotline_app = typer.Typer(help="热线地址 hotline addresses → buildings", no_args_is_help=True)
console = Console()


def _services():
    from grid.migrate import upgrade
    from grid.services import Services
    from grid.settings import Settings

    svc = Services(Settings())
    upgrade(svc.db)
    return svc


def _gazetteer():
    """The active version's gazetteer with the aliases in force, as the service uses it."""
    svc = _services()
    with svc.db.read() as session:
        return svc.gazetteers.get(session)[1]


def _operator(name: str):
    # Whoever runs the CLI has the database itself: an admin, named in the audit trail.
    from grid.users import Role, User

    return User(name=name, role=Role.admin.value, scope_code="")


@hotline_app.command("match")
def match(address: str) -> None:
    """Scored candidate buildings for one address (nothing is recorded)."""
    try:
        found = _gazetteer().match(address)
    except GridError as exc:
        console.print(f"[red]错误 error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print_json(json.dumps({
        "address": address, "placed": found.placed, "why": found.why,
        "candidates": [{"code": c.code, "name": c.name, "score": c.score, "reason": c.reason}
                       for c in found.candidates],
    }, ensure_ascii=False))


@hotline_app.command("place")
def place(
    path: Path,
    out: Annotated[Path, typer.Option(help="CSV written with building_code, score, status")],
    column: Annotated[str, typer.Option(help="column holding the address")] = "address",
) -> None:
    """Match every address of a CSV; rows below the threshold come out with status ``queue``
    and their best candidates, for a person to decide."""
    try:
        gazetteer = _gazetteer()
    except GridError as exc:
        console.print(f"[red]错误 error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            console.print(f"[red]错误 error:[/red] 缺少列 no column '{column}' in {path.name}")
            raise typer.Exit(1)
        rows = list(reader)
        fields = list(reader.fieldnames or [])
    placed = 0
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fields + ["building_code_matched", "score", "status",
                                                  "why", "candidates"])
        writer.writeheader()
        for row in rows:
            found = gazetteer.match(row[column])
            placed += bool(found.placed)
            out_row = {**row, "building_code_matched": found.placed or "",
                       "score": found.score, "why": found.why,
                       "status": "auto" if found.placed else "queue",
                       "candidates": ";".join(f"{c.code}:{c.score}" for c in found.candidates)}
            writer.writerow({k: safe_cell(v) for k, v in out_row.items()})
    console.print(f"地址 addresses: {len(rows)}, 自动定位 placed: {placed}, "
                  f"待人工 queued: {len(rows) - placed} → {out}")


@hotline_app.command("aliases-export")
def aliases_export(path: Path) -> None:
    """Write the learned aliases in force to a JSON file (to import with the gazetteer)."""
    from grid.hotline import aliases

    svc = _services()
    with svc.db.read() as session:
        records = aliases.export(session, _operator("命令行 cli"))
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"别名 aliases: {len(records)} → {path}")


@hotline_app.command("aliases-import")
def aliases_import(
    path: Path,
    by: Annotated[str, typer.Option(help="name recorded as who imported them")] = "命令行 cli",
) -> None:
    """Add the aliases of a JSON file written by ``aliases-export`` (all or nothing)."""
    from grid.hotline import aliases

    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(records, list):
            raise ValueError("not a list")
    except (OSError, ValueError) as exc:
        console.print(f"[red]错误 error:[/red] 无法读取 cannot read {path.name}: {exc}")
        raise typer.Exit(1) from None
    svc = _services()
    try:
        with svc.db.write() as session:
            added, present = aliases.import_(session, _operator(by), records)
    except GridError as exc:
        console.print(f"[red]错误 error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"新增 added: {added}, 已有 already present: {present}")

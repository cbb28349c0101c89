"""``grid residents …``: import a register (dry run / ``--commit``) and make a PII key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from grid.errors import GridError

residents_app = typer.Typer(help="居民与党员 residents and Party members", no_args_is_help=True)
console = Console()


@residents_app.command("import")
def import_(
    path: Path,
    commit: Annotated[bool, typer.Option(help="write all rows (or none); else dry run")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Import a register (CSV or XLSX: 姓名, 身份证号, 手机, 地址, 楼栋, 单元, 楼层, 室, 党员)."""
    from grid.migrate import upgrade
    from grid.residents.register import import_register
    from grid.services import Services
    from grid.settings import Settings

    svc = Services(Settings())
    upgrade(svc.db)
    try:
        report = import_register(svc.db, path, svc.settings.pii_key, commit=commit)
    except GridError as exc:
        console.print(f"[red]错误 error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    problems = [{"row": p.row, "reason": p.reason} for p in report.problems]
    if as_json:
        console.print_json(json.dumps({**report.summary(), "problem_list": problems},
                                      ensure_ascii=False))
    else:
        table = Table("项目 item", "数量 count")
        for key, value in report.summary().items():
            table.add_row(key, str(value))
        console.print(table)
        for p in problems:
            console.print(f"[red]第 {p['row']} 行 row {p['row']}[/red] {p['reason']}")
    if report.problems:
        if commit:
            console.print("[red]有问题行，未写入任何数据 rows have problems: nothing written[/red]")
        raise typer.Exit(1)
    if commit:
        console.print(f"[green]已写入 written: {report.accepted} 人 residents[/green]")
    else:
        console.print("试运行，未写入 dry run, nothing written: add --commit to write")


@residents_app.command("keygen")
def keygen() -> None:
    """Print a new random key for GRID_PII_KEY (keep it secret and backed up: data stored
    under it cannot be read without it)."""
    from grid.residents.pii import generate_key

    print(generate_key())

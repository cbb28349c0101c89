"""``grid workflow …``: deliver notifications, list late report-ins, the monthly three rates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

workflow_app = typer.Typer(help="事件流程 incident workflow: notify, report-ins, rates",
                           no_args_is_help=True)
console = Console()


def _services():
    from grid.migrate import upgrade
    from grid.services import Services
    from grid.settings import Settings

    svc = Services(Settings())
    upgrade(svc.db)
    return svc


@workflow_app.command()
def notify(
    webhook: Annotated[str | None, typer.Option(help="POST each message here (JSON)")] = None,
    max_attempts: int = 5,
) -> None:
    """Send queued notifications (outbox only, or to a webhook); failures are retried later."""
    from grid.incidents.notify import OutboxChannel, WebhookChannel, deliver

    svc = _services()
    channel = WebhookChannel(webhook) if webhook else OutboxChannel()
    total_sent = total_failed = 0
    while True:
        sent, failed = deliver(svc.db, channel, max_attempts=max_attempts)
        total_sent, total_failed = total_sent + sent, total_failed + failed
        if sent + failed == 0 or sent == 0:
            break
    console.print(f"已发送 sent: {total_sent}; 失败 failed (will retry): {total_failed}")


@workflow_app.command("late-report-ins")
def late_report_ins() -> None:
    """Whistled cases whose summoned departments are late to report in (部门报到)."""
    svc = _services()
    with svc.db.read() as session:
        for incident, summons in svc.ladder.overdue_report_ins(session):
            console.print(f"{incident.id}\t{summons.department}\t"
                          f"due {summons.report_in_due_at:%Y-%m-%d %H:%M}Z")


@workflow_app.command()
def rates(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    level: str = "street",
    out: Annotated[Path | None, typer.Option(help="write .csv or .xlsx here")] = None,
) -> None:
    """The monthly three-rate ranking (响应率 / 解决率 / 满意率), lowest last."""
    from grid import tables as export
    from grid.incidents.rates import month_bounds, monthly_ranking

    svc = _services()
    start, end = month_bounds(month, svc.settings.work_timezone)
    with svc.db.read() as session:
        ranking = monthly_ranking(session, level, start, end, svc.settings.rate_weights)
    rows = [u.as_row() for u in ranking.units]
    if out:
        data = export.to_xlsx(rows, "rates") if out.suffix == ".xlsx" else export.to_csv(rows)
        out.write_bytes(data)
    def shown(value) -> str:
        return "—" if value is None else f"{value:g}"

    for u in ranking.units:
        console.print(f"{u.rank or '—'}\t{u.code}\t{shown(u.score)}\t响应 {shown(u.response)}"
                      f"\t解决 {shown(u.resolution)}\t满意 {shown(u.satisfaction)}"
                      f"\t({u.received})")
    console.print(f"排名最后 lowest: {ranking.lowest}; 零投诉社区 zero-complaint communities: "
                  f"{ranking.zero_complaint_communities}")

"""Notifications (通知): every party due to act on a step gets one message.

Each step queues rows in the ``notification`` outbox inside the step's own transaction, keyed
``incident:step:kind:recipient`` (unique), so a retried request cannot queue twice. ``deliver``
hands unsent rows to a ``Channel``; a row is marked sent in the same transaction that sent it, and
a failure only counts an attempt, so the next run retries it. On PostGIS ``FOR UPDATE SKIP
LOCKED`` gives each row to one deliverer; on SpatiaLite writers are serialised (BEGIN IMMEDIATE).
The webhook channel sends the key as ``Idempotency-Key``, so a receiver can drop the one
duplicate a crash between sending and committing could cause.
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from grid.db import Database
from grid.incidents.models import Notification
from grid.orm import utcnow

#: Who must act after each kind of step, by the state and level it leaves the case in.
_WHO = {
    ("open", "grid"): [("grid", "grid_code")],
    ("open", "community"): [("community", "community_code")],
    ("open", "street"): [("street", "street_code"), ("leader", None)],
    ("resolved", None): [("community", "community_code")],  # 核查: the community verifies
    ("closed", None): [("community", "community_code")],  # 回访: and calls back
}


def recipients(incident, step, category) -> list[tuple[str, str]]:
    """(kind, recipient) pairs due to act after ``step``."""
    if step.action == "whistle":
        return [("department", d) for d in (step.department or "").split(",") if d]
    if step.action in ("report_in", "finish", "rate") and step.to_state == step.from_state:
        return []
    who = _WHO.get((step.to_state, step.to_level)) or _WHO.get((step.to_state, None), [])
    out = []
    for kind, field in who:
        name = category.leader if field is None else getattr(incident, field)
        if name:
            out.append((kind, name))
    return out


QUEUE = insert(Notification.__table__)


def messages(incident, step, category) -> list[tuple[str, str, str]]:
    """(kind, recipient, text) per party due to act after ``step``; the message is
    ``事件 <incident id>`` followed by the text (the id may not be known yet)."""
    label = category.label("zh")
    due = incident.due_at.isoformat(timespec="minutes") if incident.due_at else "-"
    text = (f"「{label}」{step.action} → {step.to_state}/{step.to_level}，时限 due {due}。"
            f"{step.reason}").rstrip()
    return [(kind, recipient, text) for kind, recipient in recipients(incident, step, category)]


def outbox_rows(incident_id: int, step_id: int, at: datetime,
                queued: list[tuple[str, str, str]]) -> list[dict]:
    """Outbox rows for ``messages``, keyed ``incident:step:kind:recipient``."""
    return [{"key": f"{incident_id}:{step_id}:{kind}:{recipient}", "incident_id": incident_id,
             "recipient_kind": kind, "recipient": recipient, "created_at": at,
             "message": f"事件 {incident_id}{text}", "attempts": 0, "last_error": ""}
            for kind, recipient, text in queued]


def queue_for_step(session: Session, incident, step, category) -> None:
    """Queue one message per party due to act after ``step`` (inside the caller's
    transaction). One Core INSERT of every row, executed now, so a duplicate key fails the
    move itself, not a later commit."""
    rows = outbox_rows(incident.id, step.id, step.at, messages(incident, step, category))
    if rows:
        session.connection().execute(QUEUE, rows)


class Channel(Protocol):
    """Sends one message; raises on failure."""

    def send(self, key: str, kind: str, recipient: str, message: str) -> None: ...


@dataclass
class OutboxChannel:
    """The default: the outbox table itself is the log; marking sent is all there is to do."""

    def send(self, key: str, kind: str, recipient: str, message: str) -> None:
        """Nothing to send: readers poll the outbox."""


@dataclass
class WebhookChannel:
    """POSTs JSON to ``url`` with the outbox key as ``Idempotency-Key``."""

    url: str
    timeout: float = 5.0

    def send(self, key: str, kind: str, recipient: str, message: str) -> None:
        """One POST; a non-2xx answer or a network error raises, so the row is retried."""
        body = json.dumps({"key": key, "kind": kind, "recipient": recipient,
                           "message": message}, ensure_ascii=False).encode()
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": key})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            if not 200 <= response.status < 300:
                raise OSError(f"webhook answered {response.status}")


def deliver(db: Database, channel: Channel, *, max_attempts: int = 5, batch: int = 100,
            now: datetime | None = None) -> tuple[int, int]:
    """Send every unsent message (fewer than ``max_attempts`` tries so far); returns
    (sent, failed)."""
    sent = failed = 0
    with db.write() as session:
        query = (select(Notification)
                 .where(Notification.sent_at.is_(None), Notification.attempts < max_attempts)
                 .order_by(Notification.id).limit(batch))
        if not db.is_spatialite:
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query).all():
            row.attempts += 1
            try:
                channel.send(row.key, row.recipient_kind, row.recipient, row.message)
            except Exception as exc:  # any channel failure: keep the row for the next run
                row.last_error = str(exc)[:500]
                failed += 1
            else:
                row.sent_at = now or utcnow()
                sent += 1
    return sent, failed

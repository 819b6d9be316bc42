"""The outbox: mail is queued with the change that causes it, and sent with retries.

Queuing happens inside the caller's transaction, so a status change and its e-mail are
stored together or not at all. The sender claims a row with a lease before sending, so
two senders never send one message, and marks it sent only after the SMTP server has
accepted it; an SMTP outage leaves the row for a later try.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import sqlalchemy as sa

from geoapp.store.schema import outbox

#: Waits between tries: 1 min, 5 min, 15 min, 1 h, then every 6 h; give up after MAX_ATTEMPTS.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15),
           timedelta(hours=1), timedelta(hours=6))
MAX_ATTEMPTS = 20
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class SmtpConfig:
    """Where mail goes."""

    host: str
    port: int
    sender: str
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0


def enqueue(conn: sa.Connection, to_addr: str, subject: str, body: str, now: datetime) -> None:
    """Queue one message inside the caller's transaction."""
    conn.execute(outbox.insert().values(
        to_addr=to_addr, subject=subject, body=body, created_at=now, attempts=0,
        next_attempt_at=now))


class Sender:
    """Sends what the outbox holds; call ``send_due`` now and then."""

    def __init__(self, engine: sa.Engine, smtp: SmtpConfig, domain: str = "geoapp.local"
                 ) -> None:
        self.engine = engine
        self.smtp = smtp
        self.domain = domain

    def _claim(self, now: datetime, limit: int) -> list[sa.Row]:
        due = (sa.select(outbox.c.id).where(
            outbox.c.sent_at.is_(None), outbox.c.next_attempt_at <= now,
            outbox.c.attempts < MAX_ATTEMPTS,
            sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
        ).order_by(outbox.c.id).limit(limit))
        claimed = []
        with self.engine.begin() as conn:
            for message_id in conn.execute(due).scalars().all():
                # The conditional update is the lock: only one sender wins each row. It
                # repeats "not sent": another sender may have sent the row, and cleared its
                # lease, since our select saw it.
                won = conn.execute(outbox.update().where(
                    outbox.c.id == message_id, outbox.c.sent_at.is_(None),
                    sa.or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
                ).values(claimed_until=now + LEASE)).rowcount
                if won:
                    claimed.append(conn.execute(
                        sa.select(outbox).where(outbox.c.id == message_id)).one())
        return claimed

    def _message(self, row: sa.Row, now: datetime) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = row.to_addr
        message["Subject"] = row.subject
        message["Date"] = format_datetime(now)
        # A stable Message-ID: if a message is ever sent twice, mail software can tell.
        message["Message-ID"] = make_msgid(idstring=f"outbox-{row.id}", domain=self.domain)
        message.set_content(row.body)
        return message

    def send_due(self, now: datetime, limit: int = 50) -> int:
        """Send what is due; returns how many were accepted by the SMTP server."""
        rows = self._claim(now, limit)
        if not rows:
            return 0
        sent = 0
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            self._postpone(rows, now, f"connect: {exc}")
            return 0
        with client:
            for row in rows:
                try:
                    client.send_message(self._message(row, now))
                except (OSError, smtplib.SMTPException) as exc:
                    self._postpone([row], now, str(exc))
                    continue
                with self.engine.begin() as conn:
                    conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                        sent_at=now, attempts=row.attempts + 1, claimed_until=None,
                        last_error=None))
                sent += 1
        return sent

    def _connect(self) -> smtplib.SMTP:
        client = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout)
        if self.smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if self.smtp.username:
            client.login(self.smtp.username, self.smtp.password or "")
        return client

    def _postpone(self, rows: list[sa.Row], now: datetime, error: str) -> None:
        with self.engine.begin() as conn:
            for row in rows:
                wait = BACKOFF[min(row.attempts, len(BACKOFF) - 1)]
                conn.execute(outbox.update().where(outbox.c.id == row.id).values(
                    attempts=row.attempts + 1, next_attempt_at=now + wait,
                    claimed_until=None, last_error=error[:500]))

    def pending(self) -> int:
        """Messages not yet sent (for health checks and tests)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                .where(outbox.c.sent_at.is_(None))).scalar_one()

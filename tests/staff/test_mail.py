"""The outbox and its sender against a real SMTP server (aiosmtpd), on both engines."""

from __future__ import annotations

import email
import socket
import threading
from datetime import timedelta
from email.policy import default

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from geoapp.mail.outbox import Sender, SmtpConfig, enqueue
from tests.staff.conftest import NOW


class Collector:
    """An SMTP handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address.startswith("bounce@"):
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, collector
    if controller._thread is not None:  # a test may have stopped it already
        controller.stop()


def _sender(store, port: int) -> Sender:
    # The in-process server answers at once on a quiet machine; on a loaded one (the suite on
    # two workers beside browsers) 3 s was once too short to read its greeting. A stopped
    # server refuses at once, so the longer timeout costs nothing there.
    return Sender(store.engine, SmtpConfig("127.0.0.1", port, "noreply@city.shibata.lg.jp",
                                           timeout=20))


def _queue(store, to: str = "resident@example.org", subject: str = "【新発田市】通報 No.1") -> None:
    with store.engine.begin() as conn:
        enqueue(conn, to, subject, "対応状況: 対応済\nhttps://map.example.jp/reports/1\n", NOW)


def test_queued_mail_is_delivered_in_japanese(store, smtp):
    controller, collector = smtp
    _queue(store)
    sender = _sender(store, controller.port)
    assert sender.send_due(NOW) == 1
    message = collector.messages[0]
    assert message["Subject"] == "【新発田市】通報 No.1"
    assert message["To"] == "resident@example.org"
    assert "対応済" in message.get_content()
    assert sender.pending() == 0
    assert sender.send_due(NOW + timedelta(hours=1)) == 0  # nothing is sent twice


def test_an_smtp_outage_loses_nothing_and_sends_once_when_it_is_back(store, smtp):
    controller, collector = smtp
    port = controller.port
    controller.stop()
    _queue(store)
    sender = _sender(store, port)
    assert sender.send_due(NOW) == 0
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT attempts, last_error, sent_at FROM outbox")).one()
    assert row.attempts == 1 and row.last_error and row.sent_at is None
    assert sender.send_due(NOW + timedelta(seconds=10)) == 0  # backing off, not hammering
    back = Controller(collector, hostname="127.0.0.1", port=port)
    back.start()
    try:
        assert sender.send_due(NOW + timedelta(minutes=2)) == 1
        assert sender.send_due(NOW + timedelta(hours=2)) == 0
    finally:
        back.stop()
    assert len(collector.messages) == 1


def test_two_senders_never_send_the_same_message(store, smtp):
    controller, collector = smtp
    for n in range(40):
        _queue(store, to=f"r{n}@example.org")
    senders = [_sender(store, controller.port), _sender(store, controller.port)]
    start = threading.Barrier(len(senders))
    sent: list[int] = []

    def run(sender: Sender) -> None:
        start.wait()  # both claim at the same moment, as two servers' senders would
        for _ in range(10):
            sent.append(sender.send_due(NOW, limit=5))

    threads = [threading.Thread(target=run, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    recipients = sorted(m["To"] for m in collector.messages)
    assert recipients == sorted(f"r{n}@example.org" for n in range(40))  # each once
    assert sum(sent) == 40


def test_a_message_rejected_by_the_server_is_retried_later(store, smtp):
    controller, collector = smtp
    _queue(store, to="bounce@example.org")
    sender = _sender(store, controller.port)
    assert sender.send_due(NOW) == 0
    assert collector.messages == [] and sender.pending() == 1
    with store.engine.connect() as conn:
        assert "550" in conn.execute(sa.text("SELECT last_error FROM outbox")).scalar_one()

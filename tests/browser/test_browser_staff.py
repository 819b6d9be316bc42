"""The staff side in Chromium, end to end, with a real SMTP server in the test process.

A resident files two reports through the form; road staff acknowledge, reply to and fix
the first, and forward the second to the environment department, whose member sees only
that one and closes it. The reporters' update mails are read from an aiosmtpd server; an
SMTP outage delays a mail but neither loses nor doubles it. axe-core checks every staff
page, and the queue and the actions work from the keyboard. The end-to-end triage runs on a
second site over PostGIS too.
"""

from __future__ import annotations

import email
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, Page, expect

from geoapp.staff import figures
from geoapp.staff.accounts import Accounts
from geoapp.store.engine import open_engine
from geoapp.store.schema import outbox, subscribers
from tests.browser.helpers import PageWatch, assert_axe_clean, open_watched_page
from tests.conftest import LiveServer, store_of_its_own

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
MAIL_INTERVAL = 0.5
MAIL_WAIT = 15.0
CITY_HALL = ("37.9477", "139.3275")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MailSink:
    """An SMTP server on a fixed local port that keeps every message it accepts."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received so far for ``address``."""
        with self._lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int, timeout: float = MAIL_WAIT
                 ) -> list[EmailMessage]:
        """Wait until ``address`` has ``count`` messages (at least); they are returned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.to(address)) >= count:
                return found
            time.sleep(0.1)
        found = self.to(address)
        raise AssertionError(f"{address} got {len(found)} of {count} mails in {timeout} s: "
                             f"{[m['Subject'] for m in found]}")


def _serve(data_dir: Path, env: Callable[[str], dict[str, str]]) -> LiveServer:
    """LiveServer with settings that name its own URL (GEOAPP_BASE_URL): the port is chosen
    before the server starts, so ``env`` is given the URL it will have."""
    port = _free_port()
    return LiveServer(data_dir, env=env(f"http://127.0.0.1:{port}"), port=port)


@dataclass
class Site:
    """The served geoapp, its database, and the mail it sends."""

    server: LiveServer
    engine: sa.Engine
    mail: MailSink

    @property
    def url(self) -> str:
        return self.server.url

    def file_report(self, email_address: str, description: str, category: str = "gutter"
                    ) -> int:
        """A report posted through the JSON API (for tests about the staff side)."""
        response = httpx.post(f"{self.url}/api/v1/reports", data={
            "category": category, "description": description, "email": email_address,
            "lat": CITY_HALL[0], "lon": CITY_HALL[1]})
        assert response.status_code == 201, response.text
        return int(response.json()["number"])

    def outbox_rows(self, address: str) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(outbox).where(outbox.c.to_addr == address)).all()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, store_engine: str) -> Iterator[Site]:
    """geoapp mailing through a local SMTP server every half second, with four accounts."""
    mail = MailSink()
    mail.start()
    data_dir = tmp_path_factory.mktemp(f"staff-var-{store_engine}")
    with store_of_its_own(store_engine, data_dir, "browser_staff") as database_url:
        server = _serve(data_dir, lambda url: {
            "GEOAPP_DATABASE_URL": database_url,
            "GEOAPP_SMTP_HOST": "127.0.0.1", "GEOAPP_SMTP_PORT": str(mail.port),
            "GEOAPP_MAIL_INTERVAL": str(MAIL_INTERVAL), "GEOAPP_BASE_URL": url})
        engine = open_engine(database_url)  # migrated by the server
        accounts = Accounts(engine)
        now = datetime.now(UTC)
        accounts.create("road", PASSWORD, "road", now, display_name="道路 一郎")
        accounts.create("env", PASSWORD, "department", now, display_name="環境 花子",
                        department_code="environment")
        accounts.create("admin", PASSWORD, "admin", now, display_name="管理 者")
        try:
            yield Site(server, engine, mail)
        finally:
            server.stop()
            mail.stop()
            engine.dispose()


def log_in(page: Page, site: Site, username: str, next_path: str = "/staff") -> None:
    page.goto(f"{site.url}/staff/login?next={next_path}")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    page.wait_for_url(f"{site.url}{next_path}")


def act(page: Page, button: str, *, fill: dict[str, str] | None = None,
        select: dict[str, str] | None = None) -> None:
    """Use one action form on a staff report page and wait for the saved page."""
    for selector, value in (select or {}).items():
        page.locator(selector).select_option(label=value)
    for selector, value in (fill or {}).items():
        page.locator(selector).fill(value)
    with page.expect_navigation():
        page.get_by_role("button", name=button, exact=True).click()
    expect(page.get_by_role("status").filter(has_text="操作を保存しました")).to_be_visible()


def expected_error(watch: PageWatch, status: int, url: str) -> None:
    """Take the one HTTP error a test provoked (and Chromium's console line about it) out of
    the watch; anything else recorded still fails ``assert_clean``."""
    assert watch.http_errors == [f"{status} {url}"], watch.http_errors
    watch.http_errors.clear()
    watch.console_errors[:] = [line for line in watch.console_errors if not (
        line.startswith(f"Failed to load resource: the server responded with a status of "
                        f"{status} ") and f"({url}:" in line)]


def queue_numbers(page: Page) -> list[str]:
    return page.locator("#queue tbody th a").all_inner_texts()


def _mail_text(message: EmailMessage) -> str:
    return message.get_content()


def _check_update_mail(message: EmailMessage, site: Site, number: int, status: str,
                       text: str) -> None:
    assert message["Subject"] == f"【新発田市】通報 No.{number} の対応状況: {status}"
    body = _mail_text(message)
    assert f"対応状況: {status}" in body and text in body
    assert f"通報の詳細: {site.url}/reports/{number}\n" in body
    assert re.search(rf"今後のお知らせを停止する: {re.escape(site.url)}/unsubscribe/\S+", body)


# --- 1. end to end ----------------------------------------------------------------------------


@pytest.mark.both_engines
def test_reports_are_triaged_forwarded_closed_and_mailed(site: Site, page: Page,
                                                         page_watch: PageWatch,
                                                         browser: Browser):
    fy = figures.fiscal_year(datetime.now(UTC))
    before = figures.figures(site.engine, fy).total

    # A resident reports a blocked gutter at a landmark, then a fallen sign by coordinates.
    page.goto(f"{site.url}/reports/new")
    landmark = page.get_by_label("近くの施設から選ぶ")
    landmark.select_option(index=1)
    expect(page.get_by_label("緯度")).not_to_have_value("")  # the form filled it in
    page.get_by_label("種類").select_option(label="側溝・排水")
    page.get_by_label("状況の説明").fill("側溝のふたが割れて、雨水があふれています。")
    page.get_by_label("メールアドレス").fill("gutter@example.org")
    page.get_by_role("button", name="通報する").click()
    first = int(page.locator("#report-number").inner_text())

    page.goto(f"{site.url}/reports/new")
    page.get_by_label("緯度").fill(CITY_HALL[0])
    page.get_by_label("経度").fill(CITY_HALL[1])
    page.get_by_label("種類").select_option(label="その他（道路）")
    page.get_by_label("状況の説明").fill("道ばたに古い家電が何台も捨てられています。")
    page.get_by_label("メールアドレス").fill("dumping@example.org")
    page.get_by_role("button", name="通報する").click()
    second = int(page.locator("#report-number").inner_text())
    assert second == first + 1

    # Road staff find the first report in the queue, acknowledge, reply and fix it.
    log_in(page, site, "road")
    assert {f"No.{first}", f"No.{second}"} <= set(queue_numbers(page))
    page.locator("#queue").get_by_role("link", name=f"No.{first}", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"No.{first}: 側溝・排水")
    expect(page.locator("#status")).to_have_text("受付")
    act(page, "確認した")
    expect(page.locator("#status")).to_have_text("確認済")
    act(page, "回答を公開", fill={"#reply-body": "現地を確認しました。来週中に交換します。"})
    act(page, "対応済にする（回答）", fill={"#fix-body": "側溝のふたを交換しました。"})
    expect(page.locator("#status")).to_have_text("対応済")
    history = page.locator("#history tbody")
    expect(history.locator("tr")).to_have_count(3)
    expect(history).to_contain_text("側溝のふたを交換しました。")

    # … and forward the second to the environment department, with a note.
    page.goto(f"{site.url}/staff")
    page.locator("#queue").get_by_role("link", name=f"No.{second}", exact=True).click()
    act(page, "他の部署へ転送", select={"#fwd-dept": "環境衛生担当"},
        fill={"#fwd-body": "不法投棄のようです。環境衛生担当で対応をお願いします。"})
    expect(page.locator("#department")).to_have_text("環境衛生担当")

    # The environment department, in a browser of its own, sees only the forwarded one.
    env_watch = PageWatch()
    env = open_watched_page(browser, env_watch)
    try:
        log_in(env, site, "env")
        assert queue_numbers(env) == [f"No.{second}"]
        refused = env.goto(f"{site.url}/staff/reports/{first}")
        assert refused is not None and refused.status == 403
        env.goto(f"{site.url}/staff")
        env.locator("#queue").get_by_role("link", name=f"No.{second}", exact=True).click()
        act(env, "対応不要で閉じる",
            fill={"#close-body": "市の管理地ではないため、土地の所有者に連絡しました。"})
        expect(env.locator("#status")).to_have_text("対応不要")
        env.goto(f"{site.url}/staff")
        assert queue_numbers(env) == []  # closed reports leave the open queue
        expected_error(env_watch, 403, f"{site.url}/staff/reports/{first}")
        env_watch.assert_clean()
    finally:
        env.context.close()

    # The reporters hear about each public step, and only those (not acknowledging or
    # forwarding, which publish no text).
    reply, fixed = site.mail.wait_for("gutter@example.org", 2)
    _check_update_mail(reply, site, first, "確認済", "現地を確認しました。来週中に交換します。")
    _check_update_mail(fixed, site, first, "対応済", "側溝のふたを交換しました。")
    (closed,) = site.mail.wait_for("dumping@example.org", 1)
    _check_update_mail(closed, site, second, "対応不要",
                       "市の管理地ではないため、土地の所有者に連絡しました。")
    assert "環境衛生担当で対応をお願いします" not in _mail_text(closed)  # the internal note
    time.sleep(3 * MAIL_INTERVAL)
    assert len(site.mail.to("gutter@example.org")) == 2
    assert len(site.mail.to("dumping@example.org")) == 1

    # The figures count both reports as posted and as handled.
    page.goto(f"{site.url}/staff/dashboard")
    expect(page.locator("#fig-posted")).to_have_text(str(before.posted + 2))
    expect(page.locator("#fig-handled")).to_have_text(str(before.handled + 2))
    page_watch.assert_clean()


# --- 2. mail outage ---------------------------------------------------------------------------


def test_a_reply_written_during_an_smtp_outage_is_mailed_once_when_it_is_back(
        site: Site, page: Page, page_watch: PageWatch):
    address = "outage@example.org"
    number = site.file_report(address, "マンホールのふたががたつきます。")
    log_in(page, site, "road", f"/staff/reports/{number}")

    site.mail.stop()
    act(page, "回答を公開", fill={"#reply-body": "点検の予定を組みました。"})
    # The sender tries, fails, and keeps the message for a later try.
    deadline = time.monotonic() + MAIL_WAIT
    while time.monotonic() < deadline:
        rows = site.outbox_rows(address)
        if rows and rows[0].attempts >= 1:
            break
        time.sleep(0.1)
    (row,) = site.outbox_rows(address)
    assert row.attempts >= 1 and row.sent_at is None and row.last_error, row
    assert site.mail.to(address) == []

    site.mail.start()  # the same port
    # The sender waits a minute before its second try (BACKOFF[0]); skip that wait.
    with site.engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.id == row.id)
                     .values(next_attempt_at=datetime.now(UTC)))
    (message,) = site.mail.wait_for(address, 1)
    _check_update_mail(message, site, number, "受付", "点検の予定を組みました。")
    time.sleep(4 * MAIL_INTERVAL)  # a few more sender runs: nothing is sent twice
    assert len(site.mail.to(address)) == 1
    (row,) = site.outbox_rows(address)
    assert row.sent_at is not None
    page_watch.assert_clean()


# --- 3. axe-core ------------------------------------------------------------------------------


def _unsubscribe_token(site: Site, number: int) -> str:
    with site.engine.connect() as conn:
        return conn.execute(sa.select(subscribers.c.token).where(
            subscribers.c.report_id == number)).scalar_one()


def test_staff_pages_have_no_wcag_violations(site: Site, page: Page, page_watch: PageWatch,
                                             browser: Browser):
    number = site.file_report("axe@example.org", "街路灯が点滅しています。\n夜は暗いです。")

    page.goto(f"{site.url}/staff/login")
    assert_axe_clean(page, "/staff/login")
    page.get_by_label("ユーザー名").fill("nobody")
    page.get_by_label("パスワード").fill("not the password")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("ログインできませんでした")
    assert_axe_clean(page, "/staff/login with a login error")
    expected_error(page_watch, 401, f"{site.url}/staff/login")

    log_in(page, site, "road")
    expect(page.locator("#queue tbody th a").first).to_be_visible()
    assert_axe_clean(page, "/staff with reports")

    page.goto(f"{site.url}/staff/reports/{number}")
    act(page, "内部メモを追加", fill={"#note-body": "現地の写真を撮ってくること。"})
    act(page, "対応を開始")
    act(page, "回答を公開", fill={"#reply-body": "電球を交換する予定です。"})
    expect(page.locator("#history tbody tr")).to_have_count(3)
    assert_axe_clean(page, f"/staff/reports/{number} with history")

    page.goto(f"{site.url}/staff/dashboard")
    assert_axe_clean(page, "/staff/dashboard")

    # On a phone, in English (longer words), wide tables scroll in their own boxes, which
    # the keyboard can scroll too, and the page itself does not scroll sideways.
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/staff", f"/staff/reports/{number}", "/staff/dashboard"):
        page.goto(f"{site.url}{path}?lang=en")
        assert_axe_clean(page, f"{path}?lang=en on a phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    page.set_viewport_size({"width": 1280, "height": 900})

    admin_watch = PageWatch()
    admin = open_watched_page(browser, admin_watch)
    try:
        log_in(admin, site, "admin", "/staff/admin")
        assert_axe_clean(admin, "/staff/admin")
        admin.get_by_role("link", name="Open311 APIキー").click()
        admin.get_by_label("クライアント名").fill("道路パトロール端末")
        admin.get_by_role("button", name="キーを発行").click()
        expect(admin.locator("#new-key")).not_to_be_empty()
        assert_axe_clean(admin, "/staff/admin/apikeys with a new key")
        admin_watch.assert_clean()
    finally:
        admin.context.close()

    page.goto(f"{site.url}/unsubscribe/{_unsubscribe_token(site, number)}")
    assert_axe_clean(page, "/unsubscribe/<token>")
    page.get_by_role("button", name="停止する").click()
    expect(page.get_by_role("status")).to_have_text("お知らせメールを停止しました。")
    assert_axe_clean(page, "/unsubscribe/<token> after stopping")
    page_watch.assert_clean()


# --- 4. keyboard ------------------------------------------------------------------------------


def _tab_to(page: Page, matches: str, limit: int = 150) -> dict:
    """Press Tab until the focused element satisfies the JS predicate ``matches(el)``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(el => {matches})(document.activeElement)"):
            return page.evaluate("({tag: document.activeElement.tagName,"
                                 " text: document.activeElement.textContent.trim()})")
    raise AssertionError(f"Tab never reached an element where {matches}")


def _tab_stops(page: Page, limit: int = 200) -> list[str]:
    """What Tab reaches, in order, from the top of the page around to the top again."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    stops: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        here = page.evaluate("""() => { const el = document.activeElement;
            if (!el || el === document.body) return null;
            return el.tagName + ':' + (el.id || el.textContent.trim()); }""")
        if here is None or (stops and here == stops[0]):
            break
        stops.append(here)
    return stops


def test_the_queue_and_the_actions_work_from_the_keyboard(site: Site, page: Page,
                                                          page_watch: PageWatch):
    number = site.file_report("keys@example.org", "カーブミラーが曲がっています。",
                              category="sign_mirror")
    log_in(page, site, "road")

    # Every report link in the queue is a Tab stop; Enter opens one.
    links = [f"A:{n}" for n in page.locator("#queue tbody th a").all_inner_texts()]
    stops = _tab_stops(page)
    assert links and all(link in stops for link in links), stops
    page.goto(f"{site.url}/staff")
    _tab_to(page, f"el.tagName === 'A' && el.textContent.trim() === 'No.{number}'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{site.url}/staff/reports/{number}"

    # Every action button is a Tab stop.
    buttons = [f"BUTTON:{t.strip()}"
               for t in page.locator(".actions button").all_inner_texts()]
    assert "BUTTON:確認した" in buttons
    stops = _tab_stops(page)
    missing = [b for b in buttons if b not in stops]
    assert not missing, (missing, stops)

    # Acknowledge with Enter on its button.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    _tab_to(page, "el.tagName === 'BUTTON' && el.textContent.trim() === '確認した'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("確認済")
    expect(page.get_by_role("status").filter(has_text="操作を保存しました")).to_be_visible()

    # Write an internal note by keyboard alone: Tab to the field, type, Tab on, Enter.
    _tab_to(page, "el.id === 'note-body'")
    page.keyboard.type("鏡の角度を直すこと。")
    _tab_to(page, "el.tagName === 'BUTTON'")
    assert page.evaluate("document.activeElement.textContent.trim()") == "内部メモを追加"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#history")).to_contain_text("鏡の角度を直すこと。")
    page_watch.assert_clean()

"""Real-browser fixtures: Debian's Chromium driven by Playwright, offline, watched for errors.

One browser for the session; each test gets a fresh context and page. Every request is
routed: geoapp's own server (127.0.0.1) goes through, the GSI base-map tile host is
answered with a small PNG, and a request to any other host is refused and recorded so the
test fails. Console errors, uncaught page errors, failed requests and HTTP errors are
recorded too; ``page_watch.assert_clean()`` checks them. Content-Security-Policy violations
fail every test, whether it calls ``assert_clean`` or not.

A module's own server is built on the engine its ``store_engine`` fixture names (see
tests/conftest.py): SQLite for every test, and PostGIS too for the smoke path (map, report,
triage) marked ``both_engines``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.browser.helpers import CHROMIUM, CHROMIUM_ARGS, PageWatch, open_watched_page


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, once per session (never a downloaded browser)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def page(browser: Browser, page_watch: PageWatch) -> Iterator[Page]:
    """A fresh Japanese-locale page whose every request stays on this machine."""
    watch = page_watch
    page = open_watched_page(browser, watch)
    yield page
    page.context.close()
    # Whatever the test checked, nothing may have gone to the internet, and nothing may
    # have been refused by the Content-Security-Policy.
    assert not watch.foreign_requests, f"requests to other hosts: {watch.foreign_requests}"
    assert not watch.csp_violations, f"CSP violations: {watch.csp_violations}"



"""Real-browser fixtures: Debian's Chromium driven by Playwright, offline, watched for errors.

One browser for the session; each test gets a fresh context and page. Every request is
routed: geoapp's own server (127.0.0.1) goes through, the GSI base-map tile host is
answered with a small PNG, and a request to any other host is refused and recorded so the
test fails. Console errors, uncaught page errors, failed requests and HTTP errors are
recorded too; ``page_watch.assert_clean()`` checks them.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Playwright, Route, sync_playwright

from tests.browser.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL_HOSTS,
    TILE_HOST,
    TILE_PNG,
    PageWatch,
)


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
    context = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 900})
    watch = page_watch

    def route(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            route.continue_()
        elif parts.hostname in LOCAL_HOSTS:
            route.continue_()
        elif parts.hostname == TILE_HOST:
            watch.tile_requests.append(url)
            route.fulfill(status=200, content_type="image/png", body=TILE_PNG,
                          headers={"Access-Control-Allow-Origin": "*"})
        else:
            watch.foreign_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and watch.console_errors.append(
        f"{m.text} ({m.location.get('url')}:{m.location.get('lineNumber')})"))
    page.on("pageerror", lambda e: watch.page_errors.append(str(e)))

    def failed(request) -> None:
        if urlsplit(request.url).hostname in LOCAL_HOSTS | {TILE_HOST}:
            watch.failed_requests.append(f"{request.url}: {request.failure}")

    page.on("requestfailed", failed)
    page.on("response", lambda r: r.status >= 400 and watch.http_errors.append(
        f"{r.status} {r.url}"))
    yield page
    context.close()
    # Whatever the test checked, nothing may have gone to the internet.
    assert not watch.foreign_requests, f"requests to other hosts: {watch.foreign_requests}"



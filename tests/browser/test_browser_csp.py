"""The Content-Security-Policy in Chromium: the map's own script runs, anything injected does
not, and the watch every browser test uses reports the refusal."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.browser.helpers import PageWatch, wait_for_layer

pytestmark = pytest.mark.browser


def test_injected_inline_script_and_handler_are_refused_and_reported(
        page: Page, page_watch: PageWatch, live_server):
    page.goto(live_server.url + "/")
    # The map's inline script carries the page's nonce: it ran and loaded a layer.
    assert wait_for_layer(page, "shelters") == 59
    assert page_watch.csp_violations == []

    # A script or an onclick= that got into the page some other way has no nonce.
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.__injected = true';
        document.body.appendChild(script);
        const img = document.createElement('img');
        img.setAttribute('src', 'data:,');
        img.setAttribute('onerror', 'window.__handler = true');
        document.body.appendChild(img);
        const styled = document.createElement('div');
        styled.innerHTML = '<p style="color: red">styled</p>';
        document.body.appendChild(styled);
    }""")
    page.wait_for_function("window.__cspViolations.length >= 3")
    assert page.evaluate("window.__injected") is None
    assert page.evaluate("window.__handler") is None
    blocked = " ".join(page_watch.csp_violations)
    assert "script-src-elem" in blocked and "script-src-attr" in blocked
    assert "style-src-attr" in blocked

    # assert_clean() (and the page fixture) fail on such a report.
    with pytest.raises(AssertionError, match="Content-Security-Policy violations"):
        page_watch.assert_clean()
    page_watch.csp_violations.clear()  # provoked on purpose: the fixture's check stays for others
    page_watch.console_errors.clear()


def test_a_nonce_from_another_response_does_not_work(page: Page, page_watch: PageWatch,
                                                     live_server):
    page.goto(live_server.url + "/")
    page.wait_for_function("window.geoapp !== undefined")
    own = page.evaluate("document.querySelector('script[nonce]').nonce")
    # A nonce seen earlier (say, in a cached copy) is worthless: each answer has a new one.
    other = page.request.get(live_server.url + "/", headers={"Accept": "text/html"})
    stale = other.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert stale != own
    page.evaluate("""nonce => {
        const script = document.createElement('script');
        script.nonce = nonce;
        script.textContent = 'window.__stale = true';
        document.body.appendChild(script);
    }""", stale)
    page.wait_for_function("window.__cspViolations.length >= 1")
    assert page.evaluate("window.__stale") is None
    page_watch.csp_violations.clear()
    page_watch.console_errors.clear()

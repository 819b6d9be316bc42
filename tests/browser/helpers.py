"""Helpers for the browser tests: the offline tile, the page watch, axe-core, layer waits."""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The base map's tile host: answered locally, never reached.
TILE_HOST = "cyberjapandata.gsi.go.jp"
LOCAL_HOSTS = {"127.0.0.1"}


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain one-colour PNG (a light, paper-like tile)."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


TILE_PNG = _png(256, 256, (238, 236, 230))
#: The hazard overlays' tile host, answered by :func:`answer_overlay_tiles`, never reached.
HAZARD_HOST = "https://disaportaldata.gsi.go.jp/**"


def answer_overlay_tiles(route: Route) -> None:
    """Answer a hazard overlay tile the browser asks the portal for, with a plain tile."""
    route.fulfill(status=200, content_type="image/png", body=TILE_PNG)

#: Runs in every document before its own scripts (injected by the browser, so the page's
#: CSP does not apply to it): each Content-Security-Policy violation is kept on window and
#: passed to the test at once, so one on a page the test has already left still counts.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => {
    const line = `${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'}`
        + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`
        + (e.sample ? ` (${e.sample})` : '');
    window.__cspViolations.push(line);
    window.__geoappCspViolation(line);
});
"""


@dataclass
class PageWatch:
    """What went wrong, or went out, while a page was open."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    tile_requests: list[str] = field(default_factory=list)
    #: securitypolicyviolation events, and Chromium's "Refused to ..." console lines.
    csp_violations: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        """No CSP violation, console error, page error, failed request, HTTP error or foreign
        request."""
        problems = {
            "Content-Security-Policy violations": self.csp_violations,
            "console errors": self.console_errors,
            "uncaught page errors": self.page_errors,
            "failed requests": self.failed_requests,
            "HTTP errors": self.http_errors,
            "requests to other hosts": self.foreign_requests,
        }
        found = {name: items for name, items in problems.items() if items}
        assert not found, "the page had problems:\n" + json.dumps(found, ensure_ascii=False,
                                                                  indent=2)


def wait_for_layer(page: Page, layer_id: str, timeout: float = 15_000) -> int:
    """Wait until a fetched layer has loaded every page of features; its number of features."""
    page.wait_for_function(
        "id => window.geoapp && geoapp.layers[id] && geoapp.layers[id].geoappLoaded === true",
        arg=layer_id, timeout=timeout,
    )
    return page.evaluate("id => geoapp.layers[id].getLayers().length", layer_id)


# --- axe-core -----------------------------------------------------------------------------

WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}}
#: WCAG 2.0 to 2.2, A and AA: target size (2.5.8) and the rest of 2.1 and 2.2 included.
WCAG_22 = {"runOnly": {"type": "tag",
                       "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}


def run_axe(page: Page, options: dict | None = None) -> dict:
    """axe-core's results for the page as it is now, WCAG 2.0 A and AA rules."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated by the browser itself, as the test's own code: a <script> tag added to
        # the page would be an inline script the page's CSP rightly refuses.
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    return page.evaluate(
        """async options => {
            const r = await axe.run(document, options);
            const slim = list => list.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                error: v.error ? String(v.message || v.error.message || v.error) : null,
                nodes: v.nodes.map(n => ({
                    target: n.target, html: n.html,
                    summary: n.failureSummary ||
                             n.any.concat(n.all, n.none).map(c => c.message).join('; '),
                })),
            }));
            return {violations: slim(r.violations), incomplete: slim(r.incomplete),
                    passes: r.passes.map(p => p.id)};
        }""",
        options or WCAG_A_AA,
    )


def hide_map_panes(page: Page) -> None:
    """Hide the map's panes, which axe's contrast rule takes for overlapping the text around
    the map. Through each pane's style (CSSOM): a <style> tag would be refused by the CSP."""
    page.evaluate("""() => document.querySelectorAll('.leaflet-map-pane').forEach(
        pane => pane.style.setProperty('display', 'none', 'important'))""")


def describe_axe(results: list[dict]) -> str:
    """Readable lines for axe results: rule, impact, help, then each element and why."""
    lines = []
    for rule in results:
        lines.append(f"- {rule['id']} ({rule['impact']}): {rule['help']}  <{rule['helpUrl']}>")
        if rule.get("error"):
            lines.append(f"    rule crashed: {rule['error']}")
        for node in rule["nodes"][:15]:
            lines.append(f"    at {' '.join(map(str, node['target']))}")
            lines.append(f"       {node['html'][:200]}")
            lines.append(f"       {node['summary'][:400]}".replace("\n", " "))
        if len(rule["nodes"]) > 15:
            lines.append(f"    … and {len(rule['nodes']) - 15} more")
    return "\n".join(lines)


def assert_axe_clean(page: Page, label: str, options: dict | None = None) -> dict:
    """No violation of the rules ``options`` runs (WCAG 2.0 A/AA unless told), and no rule
    that crashed instead of checking."""
    results = run_axe(page, options)
    assert not results["violations"], (
        f"axe-core found violations on {label}:\n"
        + describe_axe(results["violations"]))
    crashed = [rule for rule in results["incomplete"] if rule.get("error")]
    assert not crashed, (
        f"axe-core rules crashed on {label}, so they checked nothing:\n" + describe_axe(crashed))
    return results


# --- more pages -----------------------------------------------------------------------------


def open_watched_page(browser: Browser, watch: PageWatch, locale: str = "ja-JP") -> Page:
    """A page in a new browser context (its own cookies), routed and watched as the ``page``
    fixture's: geoapp's server passes, the tile host gets ``TILE_PNG``, any other host is
    refused and recorded, and errors go to ``watch``. Close it with ``page.context.close()``.
    """
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})

    def route(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOCAL_HOSTS:
            route.continue_()
        elif parts.hostname == TILE_HOST:
            watch.tile_requests.append(url)
            route.fulfill(status=200, content_type="image/png", body=TILE_PNG,
                          headers={"Access-Control-Allow-Origin": "*"})
        else:
            watch.foreign_requests.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", route)
    context.expose_function("__geoappCspViolation", lambda line: watch.csp_violations.append(line))
    context.add_init_script(CSP_WATCH)
    page = context.new_page()

    def console(message: ConsoleMessage) -> None:
        where = f"({message.location.get('url')}:{message.location.get('lineNumber')})"
        if message.text.startswith("Refused to "):  # Chromium's words for a CSP refusal
            watch.csp_violations.append(f"console: {message.text} {where}")
        elif message.type == "error":
            watch.console_errors.append(f"{message.text} {where}")

    page.on("console", console)
    page.on("pageerror", lambda e: watch.page_errors.append(str(e)))
    def request_failed(request: Request) -> None:
        # ERR_ABORTED is the browser itself dropping a request when the page navigates
        # away (a form posted while a stylesheet was still loading), not a failed answer;
        # answers geoapp really failed are caught as HTTP errors or other net errors.
        if (urlsplit(request.url).hostname in LOCAL_HOSTS | {TILE_HOST}
                and request.failure != "net::ERR_ABORTED"):
            watch.failed_requests.append(f"{request.url}: {request.failure}")

    page.on("requestfailed", request_failed)
    page.on("response", lambda r: r.status >= 400 and watch.http_errors.append(
        f"{r.status} {r.url}"))
    return page


# --- live buses (geoapp-buses.js) -----------------------------------------------------------


def bus_marker_position(page: Page, layer_id: str, vehicle: str) -> list[float] | None:
    """Where a live bus marker is drawn now ([lat, lon]), or None while it is not drawn."""
    return page.evaluate(
        """([id, vehicle]) => {
            const layer = window.geoappBuses && geoappBuses.layers[id];
            const marker = layer && layer.geoappMarkers[vehicle];
            if (!marker) { return null; }
            const at = marker.getLatLng();
            return [at.lat, at.lng];
        }""",
        [layer_id, vehicle],
    )


def settle_map(page: Page) -> None:
    """Wait until the map has stopped moving: no zoom or group animation under way, and the
    markers nudged apart after it (geoapp-map.js declutter runs once the last change is in)."""
    if not page.evaluate("() => Boolean(window.geoappMap)"):
        return
    page.wait_for_function("""() => !geoappMap._animatingZoom && !geoappMap._panAnim?._inProgress
        && !document.querySelector('.leaflet-cluster-anim')""")
    page.wait_for_timeout(150)


# --- the map's keyboard path (geoapp-view.js) -------------------------------------------------

#: The map's keyboard stops as geoapp-view.js finds them: markers, clusters, tile points.
MAP_STOPS = (".leaflet-marker-pane [tabindex], .leaflet-tile-pane [role=button][tabindex], "
             ".leaflet-overlay-pane [role=button][tabindex]")


def tab_through_map(page: Page, limit: int = 300) -> list[dict]:
    """From the zoom-in button, Tab through the map's stops until focus leaves them; where
    each focused stop was drawn."""
    page.locator(".leaflet-control-zoom-in").focus()
    seen: list[dict] = []
    entered = False
    for _ in range(limit):
        page.keyboard.press("Tab")
        where = page.evaluate(f"""() => {{
            const el = document.activeElement;
            if (!el.matches({MAP_STOPS!r})) {{ return null; }}
            // Measured from the map's corner: the page may scroll as focus moves.
            const r = el.getBoundingClientRect();
            const map = geoappMap.getContainer().getBoundingClientRect();
            return {{x: r.left + r.width / 2 - map.left, y: r.top + r.height / 2 - map.top,
                     tag: el.tagName.toLowerCase(),
                     label: el.getAttribute('aria-label') || el.getAttribute('alt') || ''}};
        }}""")
        if where is None:
            if entered:
                return seen
            continue
        entered = True
        seen.append(where)
    raise AssertionError(f"still in the map after {limit} presses of Tab")

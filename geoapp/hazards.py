"""What the hazard overlays show at a point: the pixel of each overlay's tile read back and
named by the overlay's key (no HTTP serving here; tiles are fetched with httpx).

The overlays are pictures, not data: a pixel's colour is mapped to the nearest colour of
the key its layer file declares (the edges of areas are anti-aliased, so a colour between
two ranks is read as the nearer one). A transparent pixel means the overlay draws nothing
there, which is not the same as safe: every answer carries the layer's caveat.
"""

from __future__ import annotations

import io
import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from geoapp.catalog.registry import Catalog, Layer
from geoapp.catalog.spec import KeyEntry, TileSource
from geoapp.errors import UpstreamBadAnswer, UpstreamUnavailable

#: Every XYZ tile is 256 × 256 pixels.
TILE_SIZE = 256
#: Where a test app reads hazard tiles unless told otherwise: the discard port, which
#: refuses at once, so no test ever reaches the internet by accident.
OFFLINE_BASE = "http://127.0.0.1:9"


def tile_pixel(lon: float, lat: float, zoom: int) -> tuple[int, int, int, int]:
    """The Web Mercator tile (x, y) holding a point at ``zoom``, and the pixel in it."""
    n = 2**zoom
    lat = max(min(lat, 85.05112878), -85.05112878)
    fx = (lon + 180.0) / 360.0 * n
    fy = (1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n
    x, y = min(int(fx), n - 1), min(int(fy), n - 1)
    px = min(int((fx - x) * TILE_SIZE), TILE_SIZE - 1)
    py = min(int((fy - y) * TILE_SIZE), TILE_SIZE - 1)
    return x, y, px, py


def rebase(url: str, base: str) -> str:
    """A tile URL template with its scheme and host replaced by ``base`` (none: as is)."""
    if not base:
        return url
    parts = urlsplit(url)
    path = url[len(f"{parts.scheme}://{parts.netloc}"):]
    return base.rstrip("/") + path


class TileFetcher:
    """Fetches PNG tiles with bounded timeouts and keeps them briefly in this process."""

    def __init__(self, timeout: float = 3.0, ttl: float = 300.0, capacity: int = 256) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.capacity = capacity
        self._cache: OrderedDict[str, tuple[float, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> bytes | None:
        """The tile's bytes, or None where the server has no tile (404: nothing drawn)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(url)
                return cached[1]
        body = self._fetch(url)
        with self._lock:
            self._cache[url] = (now + self.ttl, body)
            self._cache.move_to_end(url)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return body

    def _fetch(self, url: str) -> bytes | None:
        try:
            # Never follow redirects: the configured host is the only one geoapp asks.
            response = httpx.get(url, timeout=self.timeout, follow_redirects=False)
        except httpx.TimeoutException as exc:
            raise UpstreamUnavailable(f"hazard tile server timed out: {exc}",
                                      key="error.hazard_tiles_unavailable") from None
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(f"hazard tile server unreachable: {exc}",
                                      key="error.hazard_tiles_unavailable") from None
        if response.status_code in (204, 404):  # the portal has no tile where nothing is drawn
            return None
        if response.status_code != 200:
            raise UpstreamBadAnswer(f"hazard tile server answered {response.status_code} for {url}",
                                    key="error.hazard_tiles_bad_answer")
        return response.content


@dataclass(frozen=True)
class Reading:
    """What one tile set of an overlay shows at the point."""

    layer: Layer
    tiles: int  # which of the layer's tile URLs
    rgba: tuple[int, int, int, int] | None  # None: no tile there at all
    entry: KeyEntry | None  # None: nothing drawn (transparent, or no tile)


def nearest_entry(rgb: tuple[int, int, int], entries: list[KeyEntry]) -> KeyEntry:
    """The key entry whose colour is nearest ``rgb`` (straight distance in RGB)."""
    return min(entries, key=lambda e: sum((a - b) ** 2 for a, b in zip(rgb, e.rgb, strict=True)))


def pixel(png: bytes, px: int, py: int) -> tuple[int, int, int, int]:
    """One pixel of a tile image as RGBA; UpstreamBadAnswer if the bytes are not an image."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.size != (TILE_SIZE, TILE_SIZE):
                raise UpstreamBadAnswer(f"a tile of {image.size}, not {TILE_SIZE} px square",
                                        key="error.hazard_tiles_bad_answer")
            value = image.convert("RGBA").getpixel((px, py))
    except (UnidentifiedImageError, OSError) as exc:
        raise UpstreamBadAnswer(f"the hazard tile is not an image: {exc}",
                                key="error.hazard_tiles_bad_answer") from None
    assert isinstance(value, tuple)
    r, g, b, a = (int(v) for v in value)
    return r, g, b, a


class HazardReader:
    """Reads every hazard overlay (a tile layer with a key) at a point."""

    def __init__(self, catalog: Catalog, base: str = "",
                 fetcher: TileFetcher | None = None) -> None:
        self.layers = [layer for layer in catalog.public()
                       if isinstance(layer.spec.source, TileSource) and layer.spec.key]
        self.base = base
        self.fetcher = fetcher or TileFetcher()

    def read(self, lon: float, lat: float) -> list[Reading]:
        """One reading per tile set of each overlay, in the catalogue's order.

        The tiles are fetched at once (one thread each), so a slow server costs one
        timeout, not one per tile set; the first failure is raised.
        """
        wanted = []  # (layer, tile set, url, pixel x, pixel y)
        for layer in self.layers:
            source = layer.spec.source
            assert isinstance(source, TileSource)
            zoom = source.max_native_zoom or source.max_zoom
            x, y, px, py = tile_pixel(lon, lat, zoom)
            for index, template in enumerate(source.urls):
                url = rebase(template, self.base).format(z=zoom, x=x, y=y)
                wanted.append((layer, index, url, px, py))
        with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
            tiles = list(pool.map(self.fetcher.get, [w[2] for w in wanted]))
        readings = []
        for (layer, index, _, px, py), png in zip(wanted, tiles, strict=True):
            if png is None:
                readings.append(Reading(layer, index, None, None))
                continue
            rgba = pixel(png, px, py)
            entries = [e for e in layer.spec.key if e.tiles in (None, index)]
            entry = nearest_entry(rgba[:3], entries) if rgba[3] > 0 and entries else None
            readings.append(Reading(layer, index, rgba, entry))
        return readings

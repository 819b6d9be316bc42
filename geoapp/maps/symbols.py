"""Layer symbols as small SVG images, shared by map markers and the legend."""

from __future__ import annotations

from urllib.parse import quote

_SHAPES = {
    "circle": '<circle cx="11" cy="11" r="8"/>',
    "square": '<rect x="3.5" y="3.5" width="15" height="15" rx="2"/>',
    "triangle": '<path d="M11 2.5 20 19H2z"/>',
    "diamond": '<path d="M11 1.5 20.5 11 11 20.5 1.5 11z"/>',
    "line": '<path d="M2 16 9 7l5 6 6-8" fill="none" stroke-width="3"/>',
    "area": '<rect x="2.5" y="2.5" width="17" height="17" fill-opacity="0.35"/>',
}

#: The shapes a point marker can take (``line`` and ``area`` only draw lines and areas).
MARKER_SHAPES = ("circle", "square", "triangle", "diamond")


def svg(symbol: str, color: str) -> str:
    """The symbol as an SVG document, 22 px square, white-edged so it stands out on any map."""
    stroke = color if symbol in ("line", "area") else "#ffffff"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="22" height="22" viewBox="0 0 22 22">'
        f'<g fill="{color}" stroke="{stroke}" stroke-width="2">{_SHAPES[symbol]}</g></svg>'
    )


def data_uri(symbol: str, color: str) -> str:
    """The symbol as a data: URI (no request to any host)."""
    return "data:image/svg+xml," + quote(svg(symbol, color))


def swatch(color: str) -> str:
    """A colour of a raster overlay's key as a data: URI: a square with a dark edge, so a
    pale colour still shows against a white page."""
    return "data:image/svg+xml," + quote(
        "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 9 9'><rect x='.5' y='.5' width='8' "
        f"height='8' fill='{color}' stroke='%23595959'/></svg>", safe="/:='%")

"""Real images made in tests: phone-like JPEGs with GPS EXIF, and broken files."""

from __future__ import annotations

import io

from PIL import Image

GPS_IFD = 0x8825


def phone_jpeg(width: int = 1200, height: int = 900, *, orientation: int = 1,
               colour: tuple[int, int, int] = (120, 90, 60)) -> bytes:
    """A JPEG with GPS coordinates and a camera model in its EXIF, as phones write them."""
    image = Image.new("RGB", (width, height), colour)
    for x in range(0, width, 50):  # some structure, so it is not a flat colour
        image.paste((255, 255, 255), (x, 0, x + 5, height))
    exif = Image.Exif()
    exif[0x0110] = "GeoappTestPhone"  # Model
    exif[0x0112] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (37.0, 56.0, 51.72), 3: "E", 4: (139.0, 19.0, 39.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def png(width: int = 400, height: int = 300) -> bytes:
    """A plain PNG."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 160, 90)).save(out, "PNG")
    return out.getvalue()


def bomb_png(side: int = 10_000) -> bytes:
    """A tiny file that would decode to side x side pixels (100 megapixels by default)."""
    out = io.BytesIO()
    Image.new("1", (side, side), 0).save(out, "PNG", optimize=True)
    return out.getvalue()

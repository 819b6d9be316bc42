"""Turning an uploaded photo into the copies geoapp keeps: upright, sRGB, small, no metadata.

Only the pixels of an upload survive. Its bytes are never returned, and a photo that cannot
be processed is refused, never kept as sent: FixMyStreet's fallback stored such originals
with their GPS position.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pillow_heif
from PIL import Image, ImageCms, ImageOps

from geoapp.errors import PhotoRejected
from geoapp.photos.formats import ACCEPTED, sniff

pillow_heif.register_heif_opener()

MAX_BYTES = 15 * 1024 * 1024
MAX_SIDE = 2048  # FixMyStreet's size: plenty to judge a pothole, small on a phone's data plan
THUMB_SIDE = 320
MAX_PIXELS = 40_000_000  # phones take 12-50 MP, but 50 MP cameras save 12 MP unless asked
JPEG_QUALITY = 85
#: What every stored copy is, whatever was sent.
EXTENSION = "jpg"
MEDIA_TYPE = "image/jpeg"

# Decode a file only with the plugin its magic bytes named, never by Pillow's own guessing.
_PILLOW_FORMATS = {"jpeg": ["JPEG"], "png": ["PNG"], "webp": ["WEBP"], "heic": ["HEIF"]}
# A JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the cost; a 4000 px photo halved
# to 2000 px is as good as one resized to 2048 px, so accept up to 10% under max_side.
_DRAFT_SLACK = 0.9
_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16B", "I;16L", "I;16N"})
_RESIZABLE = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})

@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo ready to store: JPEG copies without metadata, and the hashes they go by."""

    full: bytes = field(repr=False)
    thumb: bytes = field(repr=False)
    sha256: str
    thumb_sha256: str
    width: int
    height: int
    source_format: str  # jpeg, png, webp or heic, as told by the magic bytes
    #: The process that made it: a photo-pool worker, or the caller when there is no pool.
    made_by: int = field(default_factory=os.getpid, compare=False)


def process(
    raw: bytes,
    index: int = 0,
    *,
    max_bytes: int = MAX_BYTES,
    max_side: int = MAX_SIDE,
    thumb_side: int = THUMB_SIDE,
    max_pixels: int = MAX_PIXELS,
) -> ProcessedPhoto:
    """Check one uploaded photo and make its stored copies; raise PhotoRejected if unusable."""
    if len(raw) > max_bytes:
        raise too_large(index, len(raw), max_bytes)
    kind = sniff(raw[:32])
    if kind is None:
        raise _rejected(index, "not_an_image")
    if kind not in ACCEPTED:
        raise _rejected(index, "unsupported_format", kind=kind.upper())
    # Pillow reports a cut-off WebP only as "could not create decoder object".
    if kind == "webp" and len(raw) < int.from_bytes(raw[4:8], "little") + 8:
        raise _rejected(index, "truncated")
    # Pillow only warns between MAX_IMAGE_PIXELS and twice that. catch_warnings is
    # process-wide before Python 3.14, so threads racing here can misplace this filter; the
    # explicit max_pixels check in _decode does not rely on it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _decode(raw, kind, index, max_side=max_side, max_pixels=max_pixels)
    full_image = _normalise(image, max_side)
    full = _encode(full_image)
    thumb = _encode(_resized(full_image, thumb_side))
    return ProcessedPhoto(
        full=full,
        thumb=thumb,
        sha256=hashlib.sha256(full).hexdigest(),
        thumb_sha256=hashlib.sha256(thumb).hexdigest(),
        width=full_image.width,
        height=full_image.height,
        source_format=kind,
    )


def _decode(raw: bytes, kind: str, index: int, *, max_side: int, max_pixels: int) -> Image.Image:
    """The upload's pixels, upright; its size is checked before any pixel is decoded."""
    # Decoders report bad input as OSError, ValueError, SyntaxError, struct.error, EOFError...;
    # whichever it is, the file is unusable, so the try blocks hold only Pillow calls.
    try:
        image = Image.open(io.BytesIO(raw), formats=_PILLOW_FORMATS[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _rejected(index, "too_many_pixels", limit_mp=max_pixels / 1e6) from None
    except Exception as error:
        raise _rejected(index, _failure_reason(error)) from error
    width, height = image.size
    if width * height > max_pixels:
        raise _rejected(index, "too_many_pixels", limit_mp=max_pixels / 1e6)
    if kind == "jpeg":
        _draft(image, max_side)
    try:
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _rejected(index, "too_many_pixels", limit_mp=max_pixels / 1e6) from None
    except Exception as error:
        raise _rejected(index, _failure_reason(error)) from error
    # A garbled EXIF block should not cost the resident the photo; it is dropped anyway.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)
    return image


def _draft(image: Image.Image, max_side: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale that still fills max_side (near enough)."""
    width, height = image.size
    for scale in (8, 4, 2):
        if -(-max(width, height) // scale) >= max_side * _DRAFT_SLACK:
            image.draft(None, (max(1, width // scale), max(1, height // scale)))
            return


def _normalise(image: Image.Image, max_side: int) -> Image.Image:
    """An RGB image in sRGB, longer side at most max_side, with no metadata attached."""
    if image.mode in _SIXTEEN_BIT_GREY:
        # Pillow's conversion clips 16-bit values to 255 (a white photo); scale them instead.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode not in _RESIZABLE:
        # Palette images would be resized by nearest neighbour; expand them first.
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    image = _resized(image, max_side)
    image = _to_srgb(image)
    if image.mode in ("RGBA", "LA"):
        # JPEG has no transparency; white is what the resident saw behind it on screen.
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image.convert("RGB"), mask=image.getchannel("A"))
        image = background
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.info = {}  # the JPEG encoder copies some of these (the comment) unless told otherwise
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """The image converted from its embedded colour profile to sRGB, when it has one."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    # iPhones shoot in Display P3: dropping that profile without converting dulls the colours.
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if image.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(image, source, _srgb(), outputMode=out_mode)
        return converted if converted is not None else image  # None only when done in place
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # a broken profile: keep the pixels as they are rather than refuse them


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _resized(image: Image.Image, side: int) -> Image.Image:
    """The image scaled down so its longer side is at most ``side`` (never scaled up)."""
    width, height = image.size
    longer = max(width, height)
    if longer <= side:
        return image
    size = (max(1, round(width * side / longer)), max(1, round(height * side / longer)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _encode(image: Image.Image) -> bytes:
    """A baseline JPEG of the image; checked to carry nothing but JFIF and pixels."""
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    data = out.getvalue()
    leaked = _metadata_markers(data)
    if leaked:
        # Our bug, not the resident's: a future Pillow copying metadata must not slip through.
        raise RuntimeError(f"JPEG encoder wrote metadata segments {leaked}")
    return data


def _metadata_markers(jpeg: bytes) -> list[str]:
    """The APPn (other than JFIF's APP0) and COM segments before a JPEG's image data."""
    found, pos = [], 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        if marker == 0xDA:  # start of scan: only entropy-coded data follows
            break
        if 0xE1 <= marker <= 0xEF or marker == 0xFE:
            found.append(f"0x{marker:02X}")
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return found


def _failure_reason(error: Exception) -> str:
    """``truncated`` when a decoder ran out of data, else ``unreadable``."""
    message = str(error).lower()
    if isinstance(error, EOFError) or "truncated" in message or "end of file" in message:
        return "truncated"
    return "unreadable"


def too_large(index: int, size: int, max_bytes: int = MAX_BYTES) -> PhotoRejected:
    """The refusal of photo ``index`` of ``size`` bytes (callers that know the size unread)."""
    return _rejected(index, "too_large", mb=size / 2**20, limit_mb=max_bytes / 2**20)


def _rejected(index: int, reason: str, **values: Any) -> PhotoRejected:
    # The message is the catalogue's error.photo.<reason> (photos counted from 1).
    return PhotoRejected(index, reason, **values)

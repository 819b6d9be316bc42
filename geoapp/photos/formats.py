"""What kind of file an upload is, told from its first bytes alone.

The file name and the client's MIME type are chosen by the client and prove nothing;
the magic bytes are what the decoder will actually see.
"""

from __future__ import annotations

#: The formats residents may send, by the name ``sniff`` gives them.
ACCEPTED = frozenset({"jpeg", "png", "webp", "heic"})

#: Major brands of an ISO-BMFF ``ftyp`` box that mean HEIF/HEIC (iPhones write ``heic``).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"})

# Images we recognise but do not take: naming them lets the error say what to send instead.
_UNSUPPORTED_MAGIC = (
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\xff\x0a", "jxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jxl"),
)
_UNSUPPORTED_BRANDS = {b"avif": "avif", b"avis": "avif", b"jxl ": "jxl"}


def sniff(head: bytes) -> str | None:
    """The format of a file from its first bytes: an ``ACCEPTED`` name, another name, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in HEIF_BRANDS:
            return "heic"
        return _UNSUPPORTED_BRANDS.get(brand)
    if head[:2] == b"BM" and head[6:10] == b"\x00\x00\x00\x00":
        return "bmp"  # the reserved bytes, so a text starting "BM" is not called a bitmap
    for magic, name in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            return name
    return None

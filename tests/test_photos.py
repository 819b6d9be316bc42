"""Photos residents upload: what is stored, what is refused, and the media store's files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageChops, ImageStat, PngImagePlugin

from geoapp.errors import NotFound, PhotoRejected
from geoapp.photos.formats import sniff
from geoapp.photos.media import MediaStore
from geoapp.photos.pipeline import process

ROOT = Path(__file__).resolve().parent.parent
RED = (220, 20, 20)
GPS_IFD = 0x8825
ORIENTATION = 0x0112
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="37,56.88N" '
    b'exif:GPSLongitude="139,19.67E"/></rdf:RDF></x:xmpmeta>'
)


# --------------------------------------------------------------------------- sample images


def photo(size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A noisy colour picture (so it does not compress to nothing) with a red top-left corner."""
    width, height = size
    noise = Image.effect_noise(size, 40)
    image = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            noise,
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    image.paste(RED, (0, 0, width // 8, height // 8))
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def gps_exif(orientation: int = 6) -> bytes:
    """EXIF as a phone writes it: maker, orientation and where the photo was taken."""
    exif = Image.Exif()
    exif[0x010F] = "Apple"
    exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (37.0, 56.0, 52.8), 3: "E", 4: (139.0, 19.0, 40.2)})
    return exif.tobytes()


def display_p3_icc() -> bytes:
    """A minimal ICC v2 profile with Display P3 primaries (D50-adapted), as iPhones tag photos."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    text = b"Display P3 (test)\0"
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 79),
        (b"wtpt", xyz(0.9642, 1.0, 0.82491)),
        (b"rXYZ", xyz(0.515102, 0.241182, -0.00105)),
        (b"gXYZ", xyz(0.291965, 0.692236, 0.041881)),
        (b"bXYZ", xyz(0.157153, 0.066582, 0.784378)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = data = b""
    for signature, body in tags:
        data += b"\0" * (-(offset + len(data)) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    body = struct.pack(">I", len(tags)) + table + data
    header = (
        struct.pack(">I", 128 + len(body))
        + b"lcms"
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acspAPPL"
        + b"\0" * 24
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    return header + body


def png_bomb(side: int = 10_000) -> bytes:
    """A valid greyscale PNG of side x side black pixels that compresses to about 100 KB."""
    squeeze = zlib.compressobj(9)
    row = b"\0" * (side + 1)  # filter byte + one byte per pixel
    idat = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload)
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_no_metadata(data: bytes) -> None:
    """Nothing but pixels: no EXIF (so no GPS), no XMP, no ICC profile, no comment."""
    image = opened(data)
    assert image.format == "JPEG"
    assert not image.getexif()
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
    assert b"Exif" not in data
    assert b"GPS" not in data
    assert b"xmpmeta" not in data


def red_corner(image: Image.Image) -> str:
    """Which corner of the picture the red patch is in, as a resident would see it."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    corners = {
        "top-left": (2, 2),
        "top-right": (w - 3, 2),
        "bottom-left": (2, h - 3),
        "bottom-right": (w - 3, h - 3),
    }

    def distance(corner: str) -> int:
        pixel = rgb.getpixel(corners[corner])
        return sum(abs(a - b) for a, b in zip(pixel, RED, strict=True))

    return min(corners, key=distance)


# --------------------------------------------------------------------------- what is stored


def test_phone_jpeg_is_stored_upright_small_and_without_gps_or_exif():
    raw = encode(photo((3000, 2000)), "JPEG", quality=90, exif=gps_exif(orientation=6))
    assert opened(raw).getexif().get_ifd(GPS_IFD)  # the sample really carries a position

    result = process(raw)

    assert (result.width, result.height) == (1365, 2048)  # turned to portrait, ≤ 2048 px
    stored = opened(result.full)
    assert stored.size == (1365, 2048)
    # Orientation 6 means "turn 90° clockwise to view": the stored top-left patch is top-right.
    assert red_corner(stored) == "top-right"
    assert result.source_format == "jpeg"
    assert_no_metadata(result.full)
    assert_no_metadata(result.thumb)
    assert raw not in (result.full, result.thumb)


def test_twelve_megapixel_photo_comes_out_no_larger_than_2048_px():
    raw = encode(photo((4000, 3000)), "JPEG", quality=90, exif=gps_exif(orientation=6))

    result = process(raw)

    assert result.height <= 2048 and result.width < result.height
    assert result.height >= 0.9 * 2048  # not needlessly smaller than the limit either
    assert red_corner(opened(result.full)) == "top-right"
    assert_no_metadata(result.full)


def test_thumbnail_fits_320_px_and_shows_the_same_picture():
    result = process(encode(photo((1200, 900)), "JPEG", exif=gps_exif(orientation=6)))

    thumb = opened(result.thumb)
    assert max(thumb.size) == 320 and thumb.width < thumb.height
    assert red_corner(thumb) == "top-right"
    assert result.thumb_sha256 == hashlib.sha256(result.thumb).hexdigest()


def with_xmp(jpeg: bytes) -> bytes:
    """The JPEG with an XMP segment (APP1) after its start marker, as editing apps add one."""
    payload = b"http://ns.adobe.com/xap/1.0/\0" + XMP
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_xmp_exif_and_comments_are_stripped(fmt):
    if fmt == "JPEG":
        comment = b"GPS 37.9480N 139.3278E"
        raw = with_xmp(encode(photo(), fmt, exif=gps_exif(1), comment=comment))
    elif fmt == "WEBP":
        raw = encode(photo(), fmt, exif=gps_exif(1), xmp=XMP)
    else:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        raw = encode(photo(), fmt, exif=gps_exif(1), pnginfo=info)
    upload = opened(raw)  # the position really is in the upload, twice
    assert upload.getexif().get_ifd(GPS_IFD) and "GPSLatitude" in str(upload.info["xmp"])

    result = process(raw)

    assert_no_metadata(result.full)
    assert_no_metadata(result.thumb)


@pytest.mark.parametrize(
    "fmt, kind", [("PNG", "png"), ("WEBP", "webp"), ("HEIF", "heic"), ("JPEG", "jpeg")]
)
def test_png_webp_heic_and_jpeg_are_accepted_as_jpeg(fmt, kind):
    source = photo((640, 480))
    raw = encode(source, fmt, quality=90) if fmt != "PNG" else encode(source, fmt)

    result = process(raw)

    stored = opened(result.full)
    assert (result.source_format, stored.format, stored.size) == (kind, "JPEG", (640, 480))
    # The same picture, give or take compression: compare it at a glance, block by block.
    glance = (64, 48)
    difference = ImageChops.difference(
        stored.resize(glance, Image.Resampling.BOX), source.resize(glance, Image.Resampling.BOX)
    )
    assert max(ImageStat.Stat(difference).mean) < 4
    assert red_corner(stored) == "top-left"


def test_heic_samples_are_real_heic_as_iphones_send():
    raw = encode(photo((640, 480)), "HEIF", quality=80)

    assert raw[4:12] == b"ftypheic"
    assert pillow_heif.is_supported(raw)


def test_heic_with_orientation_is_upright_and_not_turned_twice():
    # libheif applies the rotation itself and resets EXIF orientation to 1.
    raw = encode(photo((800, 600)), "HEIF", quality=90, exif=gps_exif(orientation=6))
    assert opened(raw).getexif().get_ifd(GPS_IFD)

    result = process(raw)

    assert (result.width, result.height) == (600, 800)
    assert red_corner(opened(result.full)) == "top-right"
    assert_no_metadata(result.full)


def test_transparent_png_gets_a_white_background_not_black():
    logo = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    logo.paste((*RED, 255), (80, 30, 120, 70))

    stored = opened(process(encode(logo, "PNG")).full)

    assert all(v > 245 for v in stored.getpixel((5, 5)))
    assert stored.getpixel((100, 50))[0] > 200


def test_display_p3_photo_keeps_its_colours_in_srgb():
    green = Image.new("RGB", (64, 64), (60, 190, 60))
    tagged = process(encode(green, "JPEG", quality=95, icc_profile=display_p3_icc()))
    untagged = process(encode(green, "JPEG", quality=95))

    r, g, b = opened(tagged.full).getpixel((32, 32))
    r0, g0, b0 = opened(untagged.full).getpixel((32, 32))
    # Display P3 green is more saturated than sRGB's: converting shows it greener, while
    # dropping the profile would show the dull untagged colour.
    assert g - r > (g0 - r0) + 20
    assert_no_metadata(tagged.full)


def test_sixteen_bit_grey_png_is_not_turned_white():
    grey = Image.new("I;16", (100, 80), 32768)  # 50% grey in 16 bits

    stored = opened(process(encode(grey, "PNG")).full)

    assert all(120 <= v <= 136 for v in stored.getpixel((50, 40)))


def test_hash_is_of_the_stored_bytes_and_stable():
    raw = encode(photo(), "JPEG", exif=gps_exif())

    first, second = process(raw), process(raw)

    assert first.sha256 == hashlib.sha256(first.full).hexdigest()
    assert first.sha256 != hashlib.sha256(raw).hexdigest()
    assert (first.full, first.sha256, first.thumb_sha256) == (
        second.full,
        second.sha256,
        second.thumb_sha256,
    )


# --------------------------------------------------------------------------- what is refused


def rejection(raw: bytes, index: int = 0, **limits: int) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as caught:
        process(raw, index, **limits)
    return caught.value


def test_text_file_named_jpg_is_not_an_image():
    error = rejection(b"Road damage at 1-1 Chuo-cho, Shibata\n" * 20, index=2)

    assert error.reason == "not_an_image"
    assert error.field == "photos[2]"
    assert "Photo 3" in error.detail and "写真3" in error.detail_ja


@pytest.mark.parametrize(
    "raw",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"%PDF-1.7\n",
        b"",
    ],
)
def test_svg_pdf_and_empty_files_are_not_images(raw):
    assert rejection(raw).reason == "not_an_image"


@pytest.mark.parametrize("fmt, name", [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")])
def test_other_image_formats_are_refused_by_name(fmt, name):
    error = rejection(encode(photo((64, 48)), fmt))

    assert error.reason == "unsupported_format"
    assert name in error.detail and name in error.detail_ja


def test_avif_is_refused_as_unsupported():
    assert sniff(b"\0\0\0\x1cftypavif\0\0\0\0mif1miaf") == "avif"
    assert rejection(b"\0\0\0\x1cftypavif\0\0\0\0mif1miaf" + b"\0" * 100).reason == (
        "unsupported_format"
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "HEIF"])
def test_photo_cut_off_in_upload_is_truncated(fmt):
    raw = encode(photo(), fmt)

    assert rejection(raw[: len(raw) // 2]).reason == "truncated"


def test_damaged_jpeg_is_unreadable():
    assert rejection(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40).reason == "unreadable"


# 100 MP trips Pillow's own limit (89 MP); 49 MP only geoapp's 40 MP one.
@pytest.mark.parametrize("side", [10_000, 7_000])
def test_decompression_bomb_is_refused_fast_without_decoding(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_bomb(side))
    assert bomb.stat().st_size < 200_000
    # A fresh interpreter, so its peak memory says what this one photo cost.
    script = f"""
import json, resource, time
from pathlib import Path
from geoapp.errors import PhotoRejected
from geoapp.photos.pipeline import process
raw = Path({str(bomb)!r}).read_bytes()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    process(raw)
    reason = None
except PhotoRejected as error:
    reason = error.reason
seconds = time.perf_counter() - start
grew_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"reason": reason, "seconds": seconds, "grew_kb": grew_kb}}))
"""
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    outcome = json.loads(run.stdout)

    assert outcome["reason"] == "too_many_pixels"
    assert outcome["grew_kb"] < 20_000  # decoding it would take 49 or 100 MB


def test_pillow_bomb_warning_is_an_error_even_with_a_higher_pixel_limit():
    # 100 MP is over Pillow's MAX_IMAGE_PIXELS (89 MP), where Pillow only warns.
    error = rejection(png_bomb(), max_pixels=1_000_000_000)

    assert error.reason == "too_many_pixels"


def test_pixel_limit_is_checked_before_decoding():
    error = rejection(encode(photo((1000, 1000)), "PNG"), max_pixels=999_999)

    assert error.reason == "too_many_pixels"
    assert "写真1" in error.detail_ja


def test_file_over_15_mb_is_refused_before_decoding():
    # Valid JPEG magic followed by junk: only a size check made first says too_large.
    raw = b"\xff\xd8\xff\xe0" + b"\0" * (15 * 1024 * 1024)

    error = rejection(raw)

    assert error.reason == "too_large"
    assert "15 MB" in error.detail


# --------------------------------------------------------------------------- media store


def stored_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def test_put_stores_under_the_hash_in_two_folder_levels(tmp_path):
    store = MediaStore(tmp_path)
    data = process(encode(photo(), "JPEG")).full

    key = store.put(data, "jpg")

    digest = hashlib.sha256(data).hexdigest()
    assert key == f"{digest}.jpg"
    assert store.path(key) == tmp_path / digest[:2] / digest[2:4] / key
    assert store.path(key).read_bytes() == data
    assert store.exists(key)
    assert list(store.keys()) == [key]


def test_put_twice_stores_once_and_leaves_no_temp_files(tmp_path):
    store = MediaStore(tmp_path)

    keys = {store.put(b"same bytes", "jpg") for _ in range(3)}

    assert len(keys) == 1
    assert stored_files(tmp_path) == [keys.pop()]


def test_failed_write_leaves_neither_a_partial_file_nor_a_temp_file(tmp_path, monkeypatch):
    store = MediaStore(tmp_path)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        store.put(b"photo bytes", "jpg")

    assert stored_files(tmp_path) == []
    assert not store.exists(hashlib.sha256(b"photo bytes").hexdigest() + ".jpg")


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "../../" + "a" * 61 + ".jpg",
        "g" * 64 + ".jpg",
        "A" * 64 + ".jpg",
        "a" * 63 + ".jpg",
        "a" * 64 + ".exe",
        "a" * 64 + ".jpg\n",
        "/" + "a" * 63 + ".jpg",
        "a" * 64,
    ],
)
def test_malformed_keys_are_not_found(tmp_path, key):
    store = MediaStore(tmp_path)

    with pytest.raises(NotFound):
        store.path(key)
    assert not store.exists(key)


def test_sweep_removes_old_orphans_but_keeps_referenced_and_fresh_files(tmp_path):
    store = MediaStore(tmp_path)
    referenced = store.put(b"in a report", "jpg")
    orphan = store.put(b"report never committed", "jpg")
    fresh = store.put(b"report committing right now", "jpg")
    hour_ago = time.time() - 7200
    for key in (referenced, orphan):
        os.utime(store.path(key), (hour_ago, hour_ago))
    folder = store.path(fresh).parent
    stale_temp, writing_temp = folder / f".{fresh}.dead.tmp", folder / f".{fresh}.live.tmp"
    stale_temp.write_bytes(b"crashed write")
    os.utime(stale_temp, (hour_ago, hour_ago))
    writing_temp.write_bytes(b"being written")

    removed = store.sweep({referenced})

    assert removed == [orphan]
    assert sorted(store.keys()) == sorted([referenced, fresh])
    assert not stale_temp.exists()
    assert writing_temp.exists()


def test_sending_an_old_orphan_again_restarts_its_grace_period(tmp_path):
    store = MediaStore(tmp_path)
    key = store.put(b"photo of a pothole", "jpg")
    hour_ago = time.time() - 7200
    os.utime(store.path(key), (hour_ago, hour_ago))

    assert store.put(b"photo of a pothole", "jpg") == key
    assert store.sweep(set()) == []
    assert store.exists(key)

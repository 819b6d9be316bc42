"""Benchmark the photo pipeline against the floor: Pillow decoding and re-encoding the same file.

Run on demand, not as a test:

    .venv/bin/python bench/photos.py [--runs 10]

The first run makes a 12-megapixel phone-like photo (4000x3000, textured and noisy so it does
not compress to nothing, EXIF with GPS and orientation 6) as JPEG and as HEIC, cached in
``bench/out/``. For each it prints the time of ``geoapp.photos.pipeline.process``
(wall-clock median and minimum, CPU-time median), the same for the floor (``Image.open`` ->
``load`` -> save JPEG quality 85, full size, no resize), their ratios, and the sizes of what
the pipeline stores. CPU time is the steadier figure on a shared machine.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageDraw, ImageFilter, features

from geoapp.photos.pipeline import JPEG_QUALITY, process

OUT = Path(__file__).resolve().parent / "out"
SIZE = (4000, 3000)


def phone_photo() -> Image.Image:
    """A 12 MP picture with what photos have: large shapes, soft edges, texture and sensor noise."""
    width, height = SIZE
    sky = Image.linear_gradient("L").resize(SIZE)
    image = Image.merge(
        "RGB",
        (
            sky.point(lambda v: 90 + v // 3),
            sky.point(lambda v: 120 + v // 4),
            sky.point(lambda v: 200 - v // 3),
        ),
    )
    draw = ImageDraw.Draw(image)
    # Road, kerb and a pothole: broad areas of colour with edges, like a street scene.
    draw.polygon(
        [
            (0, height),
            (width, height),
            (width * 0.62, height * 0.45),
            (width * 0.38, height * 0.45),
        ],
        fill=(96, 96, 100),
    )
    draw.rectangle((0, height * 0.40, width, height * 0.47), fill=(150, 140, 120))
    draw.ellipse((width * 0.40, height * 0.70, width * 0.62, height * 0.86), fill=(45, 40, 38))
    for i in range(60):  # buildings and poles in the distance
        x = (i * 397) % width
        draw.rectangle(
            (x, height * 0.15 + (i * 53) % 300, x + 40 + (i * 31) % 200, height * 0.42),
            fill=(120 + i % 90, 110 + (i * 7) % 80, 100 + (i * 13) % 70),
        )
    image = image.filter(ImageFilter.GaussianBlur(2))
    # Asphalt grain and sensor noise, the part that makes phone JPEGs several megabytes.
    grain = Image.effect_noise(SIZE, 22)
    noisy = [Image.blend(band, grain, 0.22) for band in image.split()]
    return Image.merge("RGB", noisy)


def phone_exif() -> bytes:
    """EXIF as an iPhone writes it: orientation 6 (held upright) and a GPS position."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Apple", "iPhone 13", 6
    exif.get_ifd(0x8825).update({1: "N", 2: (37.0, 56.0, 52.8), 3: "E", 4: (139.0, 19.0, 40.2)})
    return exif.tobytes()


def sample(kind: str) -> bytes:
    """The cached sample photo as ``jpeg`` or ``heic``, made on first use."""
    path = OUT / f"photo-12mp.{kind}"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        out = io.BytesIO()
        if kind == "heic":  # Pillow writes HEIF through the opener the pipeline registers
            phone_photo().save(out, format="HEIF", quality=80, exif=phone_exif())
        else:
            phone_photo().save(out, format="JPEG", quality=92, exif=phone_exif())
        temp = path.with_suffix(".tmp")
        temp.write_bytes(out.getvalue())
        os.replace(temp, path)
    return path.read_bytes()


def floor(raw: bytes) -> bytes:
    """What any photo handling costs at least: decode the whole file, encode it as JPEG."""
    image = Image.open(io.BytesIO(raw))
    image.load()
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


@dataclass(frozen=True)
class Timing:
    """Wall-clock median and minimum, and CPU-time median (all threads), in seconds."""

    median: float
    best: float
    cpu: float

    def __str__(self) -> str:
        return (
            f"{self.median * 1000:7.1f} ms median, {self.best * 1000:6.1f} min, "
            f"{self.cpu * 1000:6.1f} CPU"
        )


def timed(work: Callable[[], object], runs: int) -> Timing:
    """Time ``runs`` calls of ``work`` after one warm-up call."""
    work()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Timing(statistics.median(walls), min(walls), statistics.median(cpus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="JPEG runs; HEIC gets a third")
    args = parser.parse_args()
    print(
        f"Pillow {Image.__version__}, libjpeg-turbo {features.version('libjpeg_turbo')}, "
        f"pillow-heif {pillow_heif.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for kind, runs in (("jpeg", args.runs), ("heic", max(3, args.runs // 3))):
        raw = sample(kind)
        result = process(raw)
        pipeline = timed(lambda raw=raw: process(raw), runs)
        bare = timed(lambda raw=raw: floor(raw), runs)
        print(
            f"\n12 MP {kind.upper()} {SIZE[0]}x{SIZE[1]}, {len(raw) / 1e6:.2f} MB sent, {runs} runs"
        )
        print(f"  pipeline {pipeline}")
        print(
            f"    stores {result.width}x{result.height} JPEG {len(result.full) / 1e3:.0f} kB"
            f" + thumbnail {len(result.thumb) / 1e3:.1f} kB"
        )
        print(f"  floor    {bare}")
        print(
            f"    decode + JPEG q{JPEG_QUALITY} at full size, no resize:"
            f" {len(floor(raw)) / 1e6:.2f} MB"
        )
        print(
            f"  ratio pipeline/floor: {pipeline.median / bare.median:.2f} (medians),"
            f" {pipeline.best / bare.best:.2f} (minimums), {pipeline.cpu / bare.cpu:.2f} (CPU)"
        )


if __name__ == "__main__":
    main()

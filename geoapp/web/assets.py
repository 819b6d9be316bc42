"""Browser assets served by geoapp itself: pinned npm packages and geoapp's own files.

No page loads a script or stylesheet from another host. URLs carry the package
version (or a content hash), so they are cached for a year.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse

from geoapp.errors import NotFound

OWN_DIR = Path(__file__).resolve().parent.parent / "static"
#: npm packages whose files may be served; nothing else under node_modules is reachable.
VENDOR_PACKAGES = ("leaflet", "leaflet.markercluster", "leaflet.locatecontrol",
                   "leaflet.vectorgrid")
LONG_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Assets:
    """Where each served asset lives and the URL that names its version."""

    vendor_dir: Path
    versions: dict[str, str]
    own_hashes: dict[str, str]

    @classmethod
    def discover(cls, vendor_dir: Path) -> Assets:
        """Read installed package versions and hash geoapp's own files, once at start-up."""
        versions = {}
        for name in VENDOR_PACKAGES:
            meta = json.loads((vendor_dir / name / "package.json").read_text(encoding="utf-8"))
            versions[name] = meta["version"]
        hashes = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12]
            for p in OWN_DIR.iterdir()
            if p.is_file()
        }
        return cls(vendor_dir, versions, hashes)

    def vendor(self, package: str, path: str) -> str:
        """URL of a file of a pinned npm package."""
        return f"/static/vendor/{package}@{self.versions[package]}/{path}"

    def own(self, name: str) -> str:
        """URL of one of geoapp's own static files."""
        return f"/static/geoapp/{name}?v={self.own_hashes[name]}"


def _safe_file(root: Path, rel: str) -> Path:
    target = (root / rel).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        raise NotFound(f"no static file {rel!r}")
    return target


def _file(path: Path) -> FileResponse:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": LONG_CACHE})


router = APIRouter(include_in_schema=False)


@router.get("/static/vendor/{package_at_version}/{path:path}")
def vendor_file(package_at_version: str, path: str, request: Request) -> FileResponse:
    """A file of a pinned npm package."""
    assets: Assets = request.app.state.assets
    package, _, version = package_at_version.rpartition("@")
    if assets.versions.get(package) != version:
        raise NotFound(f"no package {package_at_version!r}")
    return _file(_safe_file(assets.vendor_dir / package, path))


@router.get("/static/geoapp/{name}")
def own_file(name: str) -> FileResponse:
    """One of geoapp's own scripts or stylesheets."""
    return _file(_safe_file(OWN_DIR, name))


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The site icon at the address browsers ask for by themselves (pages link the SVG)."""
    # The address carries no version, so caches keep it a day rather than a year.
    return FileResponse(OWN_DIR / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})

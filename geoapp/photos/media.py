"""The media store: processed photo bytes in a folder, each file named by its SHA-256.

A key is ``<sha256 hex>.<ext>``, stored at ``root/ab/cd/<key>`` so no folder grows huge.
Files are written whole or not at all (temp file, fsync, rename), so a reader never sees
half a photo, and the same bytes are stored once however often they are sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from geoapp.errors import NotFound

#: Extensions a key may have: the formats geoapp itself writes.
EXTENSIONS = frozenset({"jpg", "png", "webp"})

_KEY = re.compile(r"[0-9a-f]{64}\.(?:jpg|png|webp)")
_TEMP_SUFFIX = ".tmp"


class MediaStore:
    """Content-addressed photo files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes, ext: str) -> str:
        """Store bytes under the hash of their content and return the key."""
        if ext not in EXTENSIONS:
            raise ValueError(f"unsupported media extension {ext!r}")
        key = f"{hashlib.sha256(data).hexdigest()}.{ext}"
        path = self._location(key)
        if path.exists():
            # The same photo sent again starts a new grace period, or a sweep could remove
            # the old orphan copy just before the new report referencing it commits.
            with contextlib.suppress(FileNotFoundError):  # swept meanwhile: write it again
                os.utime(path)
                return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{key}.", suffix=_TEMP_SUFFIX)
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            # mkstemp makes the file private (0600); a web server in front may serve this folder.
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        _fsync_dir(path.parent)  # the rename itself must survive a power cut
        return key

    def path(self, key: str) -> Path:
        """Where a key's file is (whether or not it exists); NotFound for a malformed key."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise NotFound(f"no photo {key!r}")
        return self._location(key)

    def exists(self, key: str) -> bool:
        """Whether a file is stored under the key (False for a malformed key)."""
        try:
            return self.path(key).is_file()
        except NotFound:
            return False

    def keys(self) -> Iterator[str]:
        """Every stored key, in sorted order; temp files of unfinished writes are not keys."""
        for path in self._files():
            if _KEY.fullmatch(path.name):
                yield path.name

    def sweep(self, referenced: set[str], older_than_seconds: float = 3600) -> list[str]:
        """Delete files no report references and temp files, both older than the grace period.

        The grace period keeps a photo stored moments before its report commits, and a temp
        file still being written. Returns the keys deleted.
        """
        cutoff = time.time() - older_than_seconds
        removed = []
        for path in self._files():
            is_key = bool(_KEY.fullmatch(path.name))
            is_temp = path.name.startswith(".") and path.name.endswith(_TEMP_SUFFIX)
            if not (is_temp or (is_key and path.name not in referenced)):
                continue
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # another sweep got there first
            if is_key:
                removed.append(path.name)
        return removed

    def _location(self, key: str) -> Path:
        return self.root / key[:2] / key[2:4] / key

    def _files(self) -> Iterator[Path]:
        """Files at the two folder levels keys live in, sorted."""
        if not self.root.is_dir():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if second.is_dir():
                    yield from sorted(p for p in second.iterdir() if p.is_file())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

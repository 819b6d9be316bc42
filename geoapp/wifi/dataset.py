"""The active Wi-Fi list: the one last imported, or the shipped sample until then.

An import is parsed and checked in full before it replaces anything, and it is
written with one atomic rename, so a bad or interrupted import leaves the previous
list in place.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from geoapp.wifi.csv_format import WifiList, parse

ACTIVE_FILE = Path("wifi") / "active.json"


@dataclass(frozen=True)
class ActiveWifi:
    """The list in use, with where it came from and whether it is sample data."""

    wifi: WifiList
    sample: bool
    source_name: str
    updated: str  # ISO 8601


def _active_path(data_dir: Path) -> Path:
    return data_dir / ACTIVE_FILE


def load_active(data_dir: Path, sample_file: Path) -> ActiveWifi:
    """The imported list if there is one, else the shipped sample."""
    path = _active_path(data_dir)
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return ActiveWifi(
            wifi=parse(saved["csv"].encode("utf-8")),
            sample=saved["sample"],
            source_name=saved["source_name"],
            updated=saved["imported_at"],
        )
    updated = datetime.fromtimestamp(sample_file.stat().st_mtime, UTC).isoformat()
    return ActiveWifi(
        wifi=parse(sample_file.read_bytes()),
        sample=True,
        source_name=sample_file.name,
        updated=updated,
    )


def import_list(source: Path, data_dir: Path, *, sample: bool = False) -> ActiveWifi:
    """Check ``source`` and make it the active list; raises ImportRejected if unusable."""
    raw = source.read_bytes()
    wifi = parse(raw)  # raises before anything is written
    text = raw.decode(wifi.encoding)
    now = datetime.now(UTC).isoformat()
    record = {"source_name": source.name, "imported_at": now, "sample": sample, "csv": text}
    target = _active_path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".import-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ActiveWifi(wifi=wifi, sample=sample, source_name=source.name, updated=now)


def reset(data_dir: Path) -> bool:
    """Forget the imported list (the shipped sample is used again); True if one existed."""
    path = _active_path(data_dir)
    if path.is_file():
        path.unlink()
        return True
    return False

"""Reading a GTFS or GTFS-JP feed (zip or folder) into checked rows, with every problem found.

Sound rows are kept; a row that cannot be used is skipped and reported with its file, line
and reason. A feed riders could be misled by (a required file or column missing, no stops,
trips naming stops, routes or services that do not exist) is refused with ImportRejected.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoapp.errors import ImportRejected

REQUIRED = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
#: Misspellings seen in real feeds, and the column they stand for.
COLUMN_FIXES = {"wheelchair_accesible": "wheelchair_accessible"}
_TIME = re.compile(r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d)\s*$")
_DATE = re.compile(r"^\d{8}$")
_COLOUR = re.compile(r"^[0-9A-Fa-f]{6}$")
DEFAULT_ROUTE_COLOUR = "#1f5fa8"


@dataclass(frozen=True)
class Problem:
    """Something wrong in the feed: where it is and why."""

    file: str
    line: int  # 1 is the header; 0 for the file as a whole
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else \
            f"{self.file}: {self.reason}"


@dataclass
class Feed:
    """The usable content of a feed, as rows ready for the store."""

    source_name: str
    publisher: str = ""
    version: str = ""
    timezone: str = "Asia/Tokyo"
    agencies: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    stops: list[dict[str, Any]] = field(default_factory=list)
    trips: list[dict[str, Any]] = field(default_factory=list)
    stop_times: list[dict[str, Any]] = field(default_factory=list)
    calendar: list[dict[str, Any]] = field(default_factory=list)
    calendar_dates: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_time(text: str) -> int:
    """Seconds from the service day's start for H:MM:SS (hours may pass 24, may lack a 0)."""
    match = _TIME.match(text or "")
    if not match:
        raise ValueError(f"time {text!r} is not H:MM:SS")
    hours, minutes, seconds = (int(g) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


class _Files:
    """The text files of a feed, from a zip or a folder (a zip may hold them in a folder)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._names: dict[str, Callable[[], bytes]] = {}
        if path.is_dir():
            for child in path.iterdir():
                if child.suffix == ".txt":
                    self._names[child.name] = child.read_bytes
        elif zipfile.is_zipfile(path):
            archive = zipfile.ZipFile(path)
            for info in archive.infolist():
                name = info.filename.rsplit("/", 1)[-1]
                if name.endswith(".txt") and not info.is_dir():
                    self._names[name] = functools.partial(archive.read, info)
        else:
            raise ImportRejected(f"{path.name}: not a zip file or a folder of GTFS .txt files")

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def rows(self, name: str, problems: list[Problem]) -> Iterator[tuple[int, dict[str, str]]]:
        """(line, row) for each data row, columns stripped and misspellings corrected."""
        raw = self._names[name]()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("cp932")
            except UnicodeDecodeError:
                raise ImportRejected(f"{name}: neither UTF-8 nor Shift_JIS (CP932)") from None
            problems.append(Problem(name, 0, "encoded in Shift_JIS; GTFS asks for UTF-8"))
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header:
            return
        columns = []
        for column in header:
            key = column.strip()
            if key in COLUMN_FIXES:
                problems.append(Problem(name, 1, f"column {key!r} read as {COLUMN_FIXES[key]!r}"))
                key = COLUMN_FIXES[key]
            columns.append(key)
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(columns):
                problems.append(Problem(name, line, f"{len(values)} fields, the header has "
                                                    f"{len(columns)}; row skipped"))
                continue
            yield line, {k: v.strip() for k, v in zip(columns, values, strict=True)}


def _need_columns(name: str, rows: list[tuple[int, dict[str, str]]], *columns: str) -> None:
    if rows:
        missing = [c for c in columns if c not in rows[0][1]]
        if missing:
            raise ImportRejected(f"{name}: required column {', '.join(missing)} missing")


def _int(value: str, default: int | None = 0) -> int | None:
    return int(value) if value.strip().lstrip("-").isdigit() else default


class _Reader:
    """One pass over a feed's files, filling a Feed."""

    def __init__(self, path: Path, progress: Callable[[str], None] | None = None) -> None:
        self.progress = progress
        self.files = _Files(path)
        self.feed = Feed(source_name=path.name)
        self.problems = self.feed.problems
        self.translations: dict[tuple[str, str], str] = {}  # (original text, lang) -> text

    def table(self, name: str, *required: str) -> list[tuple[int, dict[str, str]]]:
        if name not in self.files:
            return []
        rows = list(self.files.rows(name, self.problems))
        if self.progress is not None:
            self.progress(f"{name}: {len(rows)} rows")
        _need_columns(name, rows, *required)
        return rows

    def skip(self, name: str, line: int, reason: str) -> None:
        self.problems.append(Problem(name, line, reason + "; row skipped"))

    def read(self) -> Feed:
        missing = [n for n in REQUIRED if n not in self.files]
        if "calendar.txt" not in self.files and "calendar_dates.txt" not in self.files:
            missing.append("calendar.txt or calendar_dates.txt")
        if missing:
            raise ImportRejected(f"{self.files.path.name}: required file missing: "
                                 + ", ".join(missing))
        if "feed_info.txt" not in self.files:
            self.problems.append(Problem("feed_info.txt", 0, "missing (GTFS-JP requires it)"))
        self._feed_info()
        self._translations()
        self._agencies()
        stop_ids = self._stops()
        route_ids = self._routes()
        services = self._calendar()
        shapes = self._shapes()
        trip_ids = self._trips(route_ids, services)
        self._stop_times(trip_ids, stop_ids)
        self._route_lines(shapes)
        return self.feed

    def _feed_info(self) -> None:
        for _line, row in self.table("feed_info.txt")[:1]:
            self.feed.publisher = row.get("feed_publisher_name", "")
            self.feed.version = row.get("feed_version", "")

    def _translations(self) -> None:
        rows = self.table("translations.txt")
        for line, row in rows:
            if "trans_id" in row:  # GTFS-JP v2: the original text, a language, the text
                original, lang = row.get("trans_id", ""), row.get("lang", "")
            else:  # GTFS form (GTFS-JP v3): by field_value (record_id rows are matched too)
                original = row.get("field_value") or row.get("record_id", "")
                lang = row.get("language", "")
            text = row.get("translation", "")
            if not original or not lang or not text:
                self.skip("translations.txt", line, "needs the original text, a language "
                                                    "and a translation")
                continue
            self.translations[(original, lang)] = text

    def _tr(self, text: str, lang: str, record_id: str = "") -> str | None:
        return self.translations.get((text, lang)) or (
            self.translations.get((record_id, lang)) if record_id else None)

    def _agencies(self) -> None:
        jp = {row.get("agency_id", ""): row for _l, row in self.table("agency_jp.txt")}
        for line, row in self.table("agency.txt", "agency_name", "agency_timezone"):
            if not row["agency_name"]:
                self.skip("agency.txt", line, "agency_name is empty")
                continue
            agency_id = row.get("agency_id", "") or "1"
            self.feed.timezone = row["agency_timezone"] or self.feed.timezone
            self.feed.agencies.append({
                "agency_id": agency_id, "name": row["agency_name"],
                "official_name": jp.get(agency_id, {}).get("agency_official_name") or None,
                "url": row.get("agency_url") or None, "phone": row.get("agency_phone") or None,
            })
        if not self.feed.agencies:
            raise ImportRejected("agency.txt: no agency")

    def _stops(self) -> set[str]:
        seen: set[str] = set()
        for line, row in self.table("stops.txt", "stop_id", "stop_name", "stop_lat", "stop_lon"):
            stop_id = row["stop_id"]
            if not stop_id or stop_id in seen:
                self.skip("stops.txt", line, f"stop_id {stop_id!r} empty or repeated")
                continue
            try:
                lat, lon = float(row["stop_lat"]), float(row["stop_lon"])
            except ValueError:
                self.skip("stops.txt", line, f"stop {stop_id}: coordinates are not numbers")
                continue
            if not (20 <= lat <= 46 and 122 <= lon <= 154):
                self.skip("stops.txt", line, f"stop {stop_id}: {lat}, {lon} is not in Japan")
                continue
            name = row["stop_name"]
            seen.add(stop_id)
            self.feed.stops.append({
                "stop_id": stop_id, "name": name, "lat": lat, "lon": lon,
                "name_kana": self._tr(name, "ja-Hrkt", stop_id),
                "name_en": self._tr(name, "en", stop_id),
                "location_type": _int(row.get("location_type", "")),
                "parent_station": row.get("parent_station") or None,
            })
        if not seen:
            raise ImportRejected("stops.txt: no usable stop")
        return seen

    def _routes(self) -> set[str]:
        seen: set[str] = set()
        for line, row in self.table("routes.txt", "route_id", "route_type"):
            route_id = row["route_id"]
            if not route_id or route_id in seen:
                self.skip("routes.txt", line, f"route_id {route_id!r} empty or repeated")
                continue
            short, long = row.get("route_short_name", ""), row.get("route_long_name", "")
            if not short and not long:
                self.skip("routes.txt", line, f"route {route_id} has no name")
                continue
            colour = row.get("route_color", "")
            if colour and not _COLOUR.match(colour):
                self.problems.append(Problem("routes.txt", line,
                                             f"route_color {colour!r} is not RRGGBB; default used"))
                colour = ""
            text_colour = row.get("route_text_color", "")
            seen.add(route_id)
            self.feed.routes.append({
                "route_id": route_id, "agency_id": row.get("agency_id") or None,
                "short_name": short, "long_name": long or short,
                "long_name_en": self._tr(long, "en", route_id) if long else None,
                "route_type": _int(row["route_type"], 3),
                "color": f"#{colour.lower()}" if colour else DEFAULT_ROUTE_COLOUR,
                "text_color": f"#{text_colour.lower()}" if _COLOUR.match(text_colour)
                else "#ffffff",
                "parent_route_id": row.get("jp_parent_route_id") or None,
                "origin": None, "destination": None, "geometry": None,
            })
        if not seen:
            raise ImportRejected("routes.txt: no usable route")
        by_id = {r["route_id"]: r for r in self.feed.routes}
        for line, row in self.table("routes_jp.txt"):  # GTFS-JP v2
            route = by_id.get(row.get("route_id", ""))
            if route is None:
                self.skip("routes_jp.txt", line, f"route {row.get('route_id')!r} is not in "
                                                 "routes.txt")
                continue
            route["origin"] = row.get("origin_stop") or None
            route["destination"] = row.get("destination_stop") or None
        return seen

    def _calendar(self) -> set[str]:
        services: set[str] = set()
        days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        for line, row in self.table("calendar.txt", "service_id", *days, "start_date",
                                    "end_date"):
            flags = "".join(row[d] for d in days)
            if not row["service_id"] or not re.fullmatch(r"[01]{7}", flags) or not (
                    _DATE.match(row["start_date"]) and _DATE.match(row["end_date"])):
                self.skip("calendar.txt", line, "needs a service_id, 0/1 days and "
                                                "YYYYMMDD dates")
                continue
            services.add(row["service_id"])
            self.feed.calendar.append({"service_id": row["service_id"], "weekdays": flags,
                                       "start_date": row["start_date"],
                                       "end_date": row["end_date"]})
        seen: set[tuple[str, str]] = set()
        for line, row in self.table("calendar_dates.txt", "service_id", "date",
                                    "exception_type"):
            key = (row["service_id"], row["date"])
            if not row["service_id"] or not _DATE.match(row["date"]) or \
                    row["exception_type"] not in ("1", "2") or key in seen:
                self.skip("calendar_dates.txt", line, "needs a service_id, a YYYYMMDD date "
                                                      "and exception_type 1 or 2, once")
                continue
            seen.add(key)
            services.add(row["service_id"])
            self.feed.calendar_dates.append({"service_id": key[0], "date": key[1],
                                             "exception_type": int(row["exception_type"])})
        return services

    def _shapes(self) -> dict[str, list[tuple[int, float, float]]]:
        shapes: dict[str, list[tuple[int, float, float]]] = {}
        for line, row in self.table("shapes.txt", "shape_id", "shape_pt_lat", "shape_pt_lon",
                                    "shape_pt_sequence"):
            try:
                point = (int(row["shape_pt_sequence"]), float(row["shape_pt_lon"]),
                         float(row["shape_pt_lat"]))
            except ValueError:
                self.skip("shapes.txt", line, "shape point is not numbers")
                continue
            shapes.setdefault(row["shape_id"], []).append(point)
        return shapes

    def _trips(self, route_ids: set[str], services: set[str]) -> set[str]:
        patterns = {row.get("jp_pattern_id", ""): row for _l, row in self.table("pattern_jp.txt")}
        seen: set[str] = set()
        broken: list[str] = []
        for line, row in self.table("trips.txt", "route_id", "service_id", "trip_id"):
            trip_id = row["trip_id"]
            if not trip_id or trip_id in seen:
                self.skip("trips.txt", line, f"trip_id {trip_id!r} empty or repeated")
                continue
            if row["route_id"] not in route_ids:
                broken.append(f"trips.txt:{line}: route {row['route_id']!r} does not exist")
                continue
            if row["service_id"] not in services:
                broken.append(f"trips.txt:{line}: service {row['service_id']!r} is in neither "
                              "calendar.txt nor calendar_dates.txt")
                continue
            seen.add(trip_id)
            headsign = row.get("trip_headsign", "")
            pattern_id = row.get("jp_pattern_id") or None
            if pattern_id and pattern_id not in patterns:
                self.problems.append(Problem("trips.txt", line,
                                             f"pattern {pattern_id!r} is not in pattern_jp.txt"))
            self.feed.trips.append({
                "trip_id": trip_id, "route_id": row["route_id"], "service_id": row["service_id"],
                "headsign": headsign, "headsign_en": self._tr(headsign, "en", trip_id)
                if headsign else None,
                "direction_id": _int(row.get("direction_id", ""), None),
                "shape_id": row.get("shape_id") or None,
                "office_id": row.get("jp_office_id") or None, "pattern_id": pattern_id,
            })
        if broken:
            raise ImportRejected("broken references, the feed is refused:\n  "
                                 + "\n  ".join(broken[:20]))
        if not seen:
            raise ImportRejected("trips.txt: no usable trip")
        by_route = {r["route_id"]: r for r in self.feed.routes}
        for trip in self.feed.trips:  # GTFS-JP v3: origin and destination from pattern_jp
            pattern = patterns.get(trip["pattern_id"] or "")
            route = by_route[trip["route_id"]]
            if pattern and not route["origin"]:
                route["origin"] = pattern.get("origin_stop") or None
                route["destination"] = pattern.get("destination_stop") or None
        return seen

    def _stop_times(self, trip_ids: set[str], stop_ids: set[str]) -> None:
        broken: list[str] = []
        seen: set[tuple[str, int]] = set()
        for line, row in self.table("stop_times.txt", "trip_id", "stop_id", "stop_sequence",
                                    "arrival_time", "departure_time"):
            if row["trip_id"] not in trip_ids:
                broken.append(f"stop_times.txt:{line}: trip {row['trip_id']!r} does not exist")
                continue
            if row["stop_id"] not in stop_ids:
                broken.append(f"stop_times.txt:{line}: stop {row['stop_id']!r} does not exist")
                continue
            sequence = _int(row["stop_sequence"], None)
            if sequence is None or (row["trip_id"], sequence) in seen:
                self.skip("stop_times.txt", line, "stop_sequence missing or repeated")
                continue
            arrival_text = row["arrival_time"] or row["departure_time"]
            departure_text = row["departure_time"] or row["arrival_time"]
            if not arrival_text:
                self.skip("stop_times.txt", line, "no time (interpolated times are not "
                                                  "supported)")
                continue
            try:
                arrival, departure = parse_time(arrival_text), parse_time(departure_text)
            except ValueError as exc:
                self.skip("stop_times.txt", line, str(exc))
                continue
            seen.add((row["trip_id"], sequence))
            self.feed.stop_times.append({
                "trip_id": row["trip_id"], "stop_sequence": sequence, "stop_id": row["stop_id"],
                "arrival": arrival, "departure": departure,
                "headsign": row.get("stop_headsign") or None,
                "pickup_type": _int(row.get("pickup_type", "")) or 0,
            })
        if broken:
            raise ImportRejected("broken references, the feed is refused:\n  "
                                 + "\n  ".join(broken[:20]))
        timed = {trip for trip, _seq in seen}
        for trip in self.feed.trips:
            if trip["trip_id"] not in timed:
                self.problems.append(Problem("trips.txt", 0,
                                             f"trip {trip['trip_id']} has no stop times"))

    def _route_lines(self, shapes: dict[str, list[tuple[int, float, float]]]) -> None:
        """Each route's line: its trips' shapes, else the stops its trips call at in order."""
        stops = {s["stop_id"]: (s["lon"], s["lat"]) for s in self.feed.stops}
        calls: dict[str, list[tuple[int, str]]] = {}
        for st in self.feed.stop_times:
            calls.setdefault(st["trip_id"], []).append((st["stop_sequence"], st["stop_id"]))
        lines: dict[str, list[tuple[tuple[float, float], ...]]] = {}
        for trip in self.feed.trips:
            shape = shapes.get(trip["shape_id"] or "")
            if shape:
                coords = tuple((lon, lat) for _s, lon, lat in sorted(shape))
            else:
                coords = tuple(stops[s] for _q, s in sorted(calls.get(trip["trip_id"], [])))
            bucket = lines.setdefault(trip["route_id"], [])
            if len(coords) >= 2 and coords not in bucket:
                bucket.append(coords)
        for route in self.feed.routes:
            parts = lines.get(route["route_id"], [])
            route["geometry"] = {"type": "MultiLineString",
                                 "coordinates": [[list(c) for c in p] for p in parts]} \
                if parts else None


def read_feed(path: Path, progress: Callable[[str], None] | None = None) -> Feed:
    """The usable content of the feed at ``path`` and its problems; ImportRejected if unusable.

    ``progress`` is told of each file as it is read.
    """
    return _Reader(path, progress).read()

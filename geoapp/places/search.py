"""One search over what people name: towns, the named features of the public layers, and
public reports by number. Ranked exact > prefix > the query starting with a name (an
address with its block number) > substring, then by kind; no HTTP here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from geoapp.catalog.registry import Catalog, Layer
from geoapp.catalog.spec import ReportsSource, TransitSource, WildlifeSource
from geoapp.errors import NotFound
from geoapp.features.params import MAX_ID, whole_number
from geoapp.features.source import Feature
from geoapp.places.normalise import normalise, variants
from geoapp.places.towns import Towns

#: What a place is: a public report, a town (大字・町丁目) or a feature of a layer.
Kind = Literal["report", "town", "feature"]
#: How well a name matches, best first.
EXACT, PREFIX, ADDRESS, SUBSTRING = 0, 1, 2, 3
#: A name shorter than this is not looked for inside a longer query (「浦」 in every address).
_ADDRESS_MIN = 2
#: Results of one search at most.
MAX_RESULTS = 20
#: Characters a report number may be typed with before its digits: 「No.12」, 「#12」, 「通報12」.
_NUMBER_PREFIXES = ("no.", "no", "#", "通報", "番号")


@dataclass(frozen=True, slots=True)
class Place:
    """One search result: a town, a layer's feature or a report, and where it is."""

    kind: Kind
    name: str
    lon: float
    lat: float
    collection: str | None = None  # the layer of a feature; "reports" for a report
    id: str | None = None  # the feature id, or the report number
    rank: int = EXACT
    name_en: str = ""  # the English name when the data has one (a report's category)


@dataclass(frozen=True, slots=True)
class _Entry:
    keys: tuple[str, ...]
    place: Place


def _score(query: tuple[str, ...], keys: tuple[str, ...]) -> int | None:
    """The best rank any query variant reaches against any of a name's keys, or None."""
    best: int | None = None
    for q in query:
        for key in keys:
            if q == key:
                return EXACT
            if key.startswith(q):
                rank = PREFIX
            elif len(key) >= _ADDRESS_MIN and q.startswith(key):
                rank = ADDRESS
            elif q in key:
                rank = SUBSTRING
            else:
                continue
            best = rank if best is None else min(best, rank)
    return best


def searchable(layer: Layer) -> bool:
    """Whether a public layer's features are places to search: named points of a file or
    the bus timetable, not the store's live layers (reports are found by number)."""
    source = layer.spec.source
    if layer.source is None or not layer.spec.label_property:
        return False
    if isinstance(source, ReportsSource | WildlifeSource):
        return False
    return not (isinstance(source, TransitSource) and source.kind != "stops")


def _point(feature: Feature) -> tuple[float, float] | None:
    geometry = feature.geometry or {}
    if geometry.get("type") != "Point":
        return None
    lon, lat = geometry["coordinates"][:2]
    return float(lon), float(lat)


class PlaceIndex:
    """The towns and the named features of the catalogue's layers, normalised once (a
    layer's again when its data version changes, as the bus stops' does on an import)."""

    def __init__(self, towns: Towns, catalog: Catalog) -> None:
        self.catalog = catalog
        self._towns = [
            _Entry(tuple(dict.fromkeys((normalise(t.town + t.koaza), normalise(t.name)))),
                   Place("town", t.name, t.lon, t.lat))
            for t in towns.towns]
        self._layers: dict[str, tuple[str, list[_Entry]]] = {}

    def _layer_entries(self, layer: Layer) -> list[_Entry]:
        assert layer.source is not None
        version = layer.source.version()
        cached = self._layers.get(layer.id)
        if cached is not None and cached[0] == version:
            return cached[1]
        label = layer.spec.label_property or ""
        entries = []
        for feature in layer.source.iter_features():
            where = _point(feature)
            name = str(feature.properties.get(label) or "").strip()
            if where is None or not name:
                continue
            # A stop's reading (よみがな) and English name find it too.
            extra = [str(feature.properties.get(k) or "") for k in ("name_kana", "name_en")]
            keys = tuple(dict.fromkeys(normalise(n) for n in [name, *extra] if n))
            place = Place("feature", name, *where, layer.id, feature.id,
                          name_en=str(feature.properties.get("name_en") or ""))
            entries.append(_Entry(keys, place))
        self._layers[layer.id] = (version, entries)
        return entries

    def _named(self) -> Iterable[tuple[int, list[_Entry]]]:
        yield 1, self._towns
        for order, layer in enumerate((la for la in self.catalog.collections()
                                       if searchable(la)), start=2):
            yield order, self._layer_entries(layer)

    def search(self, text: str, limit: int = 10,
               report: Callable[[int], Feature] | None = None) -> list[Place]:
        """At most ``limit`` places matching ``text``, best first: exact, prefix, address,
        substring; within each, reports, towns, then the layers in display order, shorter
        names first. ``report(number)`` looks a public report up (NotFound otherwise)."""
        query = variants(text)
        if not query[0]:
            return []
        found: list[tuple[int, int, int, str, Place]] = []
        number = _report_number(query[0])
        if number is not None and report is not None:
            try:
                feature = report(number)
            except NotFound:
                feature = None
            where = _point(feature) if feature is not None else None
            if feature is not None and where is not None:
                name = str(feature.properties.get("category") or "")
                place = Place("report", name, *where, "reports", str(number),
                              name_en=str(feature.properties.get("category_en") or ""))
                found.append((EXACT, 0, 0, "", place))
        for order, entries in self._named():
            for entry in entries:
                rank = _score(query, entry.keys)
                if rank is not None:
                    found.append((rank, order, len(entry.place.name), entry.place.name,
                                  replace(entry.place, rank=rank)))
        found.sort(key=lambda row: row[:4])
        return [row[4] for row in found[:max(1, min(limit, MAX_RESULTS))]]


def _report_number(query: str) -> int | None:
    """The report number a normalised query names (「12」, 「No.12」, 「#12」), or None."""
    for prefix in _NUMBER_PREFIXES:
        if query.startswith(prefix):
            query = query[len(prefix):]
            break
    value = whole_number(query)
    return value if value is not None and 1 <= value <= MAX_ID else None

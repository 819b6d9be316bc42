"""The catalogue built at start-up: every declared layer with its data loaded and indexed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from geoapp.catalog.display import ShownValue, label_of, safe_href, shown_values
from geoapp.catalog.loader import load_specs
from geoapp.catalog.spec import (
    GeoJSONSource,
    LayerSpec,
    PropertySpec,
    ReportsSource,
    TransitSource,
    WifiSource,
    WildlifeSource,
)
from geoapp.errors import LayerConfigError, NotFound
from geoapp.features.source import BBox, Feature, MemorySource, Page, Summary
from geoapp.i18n import Lang
from geoapp.wifi.dataset import ActiveWifi, load_active
from geoapp.wifi.matching import Facility, match

_TRUE = {"1", "有", "true", "yes", "○", "◯", "y"}


class FeatureSource(Protocol):
    """What a collection needs of its data: a query, one feature, an extent, a count.

    In-memory sources (MemorySource) page by offset; store-backed ones
    (geoapp.features.live.StoreSource) run one SQL query per page and hand out keyset
    cursors for the next page, and may leave ``Page.matched`` out when counting is costly.
    """

    def query(self, *, bbox: BBox | None = None, filters: dict[str, str] | None = None,
              limit: int, offset: int = 0, cursor: str | None = None) -> Page:
        """Features in ``bbox`` whose properties equal ``filters``, one page of them."""

    def get(self, feature_id: str) -> Feature:
        """One feature; NotFound if there is none."""

    def version(self) -> str:
        """A cheap token that changes whenever the features do, the same in every process."""

    def summary(self) -> Summary:
        """How many features there are and their bbox (one aggregate query in the store)."""

    @property
    def extent(self) -> BBox | None:
        """The bbox of all features."""

    @property
    def features(self) -> Sequence[Feature]:
        """Every feature."""

    def iter_features(self) -> Iterator[Feature]:
        """Every feature, without holding them all (store-backed sources read by pages)."""

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class Layer:
    """A declared layer ready to serve: its declaration, its features, and their state."""

    spec: LayerSpec
    source: FeatureSource | None  # None for raster overlays
    updated: str
    sample: bool

    @property
    def id(self) -> str:
        """The layer's id (also its collection id)."""
        return self.spec.id

    def summary(self) -> Summary:
        """How many features the layer has and their bbox (nothing for a raster overlay)."""
        return self.source.summary() if self.source is not None else Summary(0, None)

    def titles(self, lang: Lang) -> dict[str, str]:
        """The names in ``lang`` of the codes ``title_by`` holds (empty without one)."""
        named = getattr(self.source, "value_names", None)
        if not self.spec.title_by or named is None:
            return {}
        return dict(named(self.spec.title_by, lang))

    def value_names(self, key: str, lang: Lang) -> dict[str, str]:
        """The names in ``lang`` of the codes the property ``key`` holds: the source's
        (report states, species), else the style's words for its colour values."""
        named = getattr(self.source, "value_names", None)
        names = dict(named(key, lang)) if named is not None else {}
        if not names and key == self.spec.style.color_by:
            names = {code: text(lang) for code, text in self.spec.style.labels.items()}
        return names

    def shown_names(self, lang: Lang) -> dict[str, dict[str, str]]:
        """By property key, the names of the codes each shown ``name`` property holds."""
        return {s.key: self.value_names(s.key, lang) for s in self.spec.shown
                if s.format == "name"}

    def shown(self, feature: Feature, lang: Lang,
              names: dict[str, dict[str, str]] | None = None) -> list[ShownValue]:
        """What a person reads of ``feature`` in ``lang`` (the layer's ``show``); a page of
        features passes ``shown_names`` once rather than have each look them up."""
        return shown_values(self.spec, feature.properties, lang,
                            self.shown_names(lang) if names is None else names)

    def photo_of(self, feature: Feature) -> str | None:
        """The feature's thumbnail address (its ``image_property``), if it is a safe one."""
        prop = self.spec.image_property
        return safe_href(feature.properties.get(prop)) if prop else None

    def shown_labels(self, lang: Lang) -> list[tuple[str, str]]:
        """The key and label of each property a person reads, in order (table columns)."""
        return [(s.key, label_of(self.spec, s, lang)) for s in self.spec.shown]

    def title_of(self, feature: Feature, lang: Lang) -> str:
        """A feature's title in ``lang``: its code's name, else its label, else its id."""
        if self.spec.title_by:
            code = feature.properties.get(self.spec.title_by)
            name = self.titles(lang).get(str(code)) if code is not None else None
            if name:
                return name
        if self.spec.label_property:
            return str(feature.properties.get(self.spec.label_property) or "")
        return feature.id


@dataclass(frozen=True)
class _Raw:
    id: str
    geometry: dict[str, Any]
    props: dict[str, Any]


def _convert(prop: PropertySpec, value: Any) -> Any:
    if prop.type == "boolean":
        return str(value).strip().lower() in _TRUE if value is not None else False
    if value is None or value == "":
        return None if prop.type != "string" else ""
    if prop.type == "integer":
        return int(value)
    if prop.type == "number":
        return float(value)
    return str(value)


def _read_geojson(path: Path, id_property: str | None) -> list[_Raw]:
    data = orjson.loads(path.read_bytes())
    raws = []
    for index, feature in enumerate(data.get("features", []), start=1):
        props = feature.get("properties") or {}
        fid = str(props[id_property]) if id_property else str(feature.get("id", index))
        raws.append(_Raw(fid, feature["geometry"], props))
    return raws


def _wifi_raws(active: ActiveWifi) -> list[_Raw]:
    points = active.wifi.points
    numbers = [p.no for p in points]
    unique = len(set(numbers)) == len(numbers)
    raws = []
    for point in points:
        props = {
            "name": point.name,
            "name_en": point.name_en,
            "address": point.address,
            "ssid": ", ".join(point.ssids),
            "installer": point.installer,
            "area": point.area,
            "url": point.url,
            "note": point.note,
            "checked": point.checked,
        }
        fid = point.no if unique else str(point.line)
        geometry = {"type": "Point", "coordinates": [point.lon, point.lat]}
        raws.append(_Raw(fid, geometry, props))
    return raws


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")


class Catalog:
    """All layers by id, in display order, built once from the declarations and data."""

    def __init__(self, layers: list[Layer], wifi: ActiveWifi | None) -> None:
        self._layers = {layer.id: layer for layer in layers}
        self.wifi = wifi

    @classmethod
    def build(cls, layers_dir: Path, geo_dir: Path, data_dir: Path,
              reports: FeatureSource | None = None,
              transit: dict[str, FeatureSource] | None = None,
              wildlife: FeatureSource | None = None) -> Catalog:
        """Load, check and index every declared layer; LayerConfigError if any is unusable.

        ``reports`` is the live source behind a layer declared with ``type: reports``;
        ``transit`` the community bus sources by kind, for ``type: transit`` layers.
        ``wildlife`` is the recent-detections source behind ``type: wildlife``.
        """
        specs = load_specs(layers_dir, geo_dir)
        raws: dict[str, list[_Raw]] = {}
        updated: dict[str, str] = {}
        wifi: ActiveWifi | None = None
        for spec in specs:
            source = spec.source
            if isinstance(source, GeoJSONSource):
                path = geo_dir / source.path
                raws[spec.id] = _read_geojson(path, source.id_property)
                updated[spec.id] = _mtime(path)
            elif isinstance(source, WifiSource):
                if wifi is not None:
                    raise LayerConfigError("only one layer may use the wifi source")
                wifi = load_active(data_dir, geo_dir / source.sample_path)
                raws[spec.id] = _wifi_raws(wifi)
                updated[spec.id] = wifi.updated
        ssids_by_facility = cls._match_wifi(specs, raws, wifi)
        layers = []
        for spec in specs:
            source_features: FeatureSource | None = None
            if isinstance(spec.source, ReportsSource):
                if reports is None:
                    raise LayerConfigError(f"layer {spec.id}: the reports source needs the store")
                layers.append(Layer(spec, reports, "", sample=False))
                continue
            if isinstance(spec.source, TransitSource):
                if transit is None:
                    raise LayerConfigError(f"layer {spec.id}: the transit source needs the store")
                layers.append(Layer(spec, transit[spec.source.kind], "", sample=False))
                continue
            if isinstance(spec.source, WildlifeSource):
                if wildlife is None:
                    raise LayerConfigError(f"layer {spec.id}: the wildlife source needs the store")
                layers.append(Layer(spec, wildlife, "", sample=False))
                continue
            if spec.id in raws:
                features = [
                    cls._publish(spec, raw, ssids_by_facility) for raw in raws[spec.id]
                ]
                try:
                    source_features = MemorySource(features)
                except ValueError as exc:
                    raise LayerConfigError(f"layer {spec.id}: {exc}") from exc
            is_sample = isinstance(spec.source, WifiSource) and wifi is not None and wifi.sample
            layers.append(
                Layer(spec, source_features, updated.get(spec.id, ""), sample=is_sample)
            )
        return cls(layers, wifi)

    @staticmethod
    def _match_wifi(
        specs: list[LayerSpec], raws: dict[str, list[_Raw]], wifi: ActiveWifi | None
    ) -> dict[str, list[str]]:
        """Match APs to facilities; record the facility on each AP, return SSIDs by facility."""
        if wifi is None:
            return {}
        facilities: dict[str, Facility] = {}
        for spec in specs:
            if "wifi" not in spec.enrich:
                continue
            name_field = next(
                (p.source for p in spec.properties if p.key == spec.label_property), None
            )
            for raw in raws[spec.id]:
                lon, lat = raw.geometry["coordinates"][:2]
                name = str(raw.props.get(name_field, "")) if name_field else ""
                facilities.setdefault(raw.id, Facility(raw.id, name, lon, lat))
        wifi_layer = next(s.id for s in specs if isinstance(s.source, WifiSource))
        ap_raws = raws[wifi_layer]
        matched = match(wifi.wifi.points, list(facilities.values()))
        ssids: dict[str, list[str]] = {}
        for raw, point, facility_id in zip(ap_raws, wifi.wifi.points, matched, strict=True):
            raw.props["facility"] = facilities[facility_id].name if facility_id else ""
            if facility_id:
                bucket = ssids.setdefault(facility_id, [])
                bucket.extend(s for s in point.ssids if s not in bucket)
        return ssids

    @staticmethod
    def _publish(spec: LayerSpec, raw: _Raw, ssids: dict[str, list[str]]) -> Feature:
        props: dict[str, Any] = {}
        for prop in spec.properties:
            if prop.source is not None:
                props[prop.key] = _convert(prop, raw.props.get(prop.source))
            elif prop.key == "wifi":
                props["wifi"] = raw.id in ssids
            elif prop.key == "wifi_ssids":
                props["wifi_ssids"] = ", ".join(ssids.get(raw.id, []))
        return Feature(raw.id, raw.geometry, props)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers.values())

    def public(self) -> list[Layer]:
        """The layers anyone may see, in display order."""
        return [layer for layer in self if layer.spec.public]

    def collections(self) -> list[Layer]:
        """The public feature layers: the OGC API collections."""
        return [layer for layer in self.public() if layer.source is not None]

    def collection(self, layer_id: str) -> Layer:
        """A public feature layer by id; NotFound for unknown, hidden or raster layers."""
        layer = self._layers.get(layer_id)
        if layer is None or not layer.spec.public or layer.source is None:
            raise NotFound(f"no collection {layer_id!r}")
        return layer

    @property
    def sample_data_loaded(self) -> bool:
        """Whether any public layer currently shows sample data."""
        return any(layer.sample for layer in self.public())

    def count_with_wifi(self, layer_id: str) -> tuple[int, int]:
        """How many features of a Wi-Fi-enriched layer have Wi-Fi, and how many there are."""
        layer = self.collection(layer_id)
        assert layer.source is not None
        with_wifi = sum(1 for f in layer.source.features if f.properties.get("wifi"))
        return with_wifi, len(layer.source)

"""The typed model of one layer declaration (one YAML file in ``layers/``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from geoapp.i18n import Lang
from geoapp.maps.symbols import MARKER_SHAPES

_ID = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    """A text in Japanese and English, and in any further language a catalogue adds."""

    # Further languages are further keys (``ko: ...``): adding one edits data, not code.
    model_config = ConfigDict(extra="allow", frozen=True)

    ja: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def __call__(self, lang: Lang) -> str:
        """The text in ``lang``, English when the declaration has none in it."""
        if lang == "ja":
            return self.ja
        other = (self.model_extra or {}).get(lang)
        return other if isinstance(other, str) and other else self.en


class GeoJSONSource(_Strict):
    """Features read from a GeoJSON file in ``data/geo/``."""

    type: Literal["geojson"]
    path: str
    id_property: str | None = None  # None: features are numbered from 1


class WifiSource(_Strict):
    """The active public Wi-Fi list (imported, or the shipped sample when none is)."""

    type: Literal["wifi"]
    sample_path: str  # recommended-format CSV in data/geo/, used until a real list is imported


class ReportsSource(_Strict):
    """The residents' reports in the store (the public ones only)."""

    type: Literal["reports"]


class TransitSource(_Strict):
    """The community bus from the store: routes, stops, reservation areas or live positions."""

    type: Literal["transit"]
    kind: Literal["routes", "stops", "areas", "vehicles"]


class WildlifeSource(_Strict):
    """Recent wildlife detections in the store, generalised as each device allows."""

    type: Literal["wildlife"]


class TileSource(_Strict):
    """Raster XYZ tiles drawn over the base map (hazard overlays)."""

    type: Literal["tiles"]
    urls: list[str] = Field(min_length=1)
    min_zoom: int = Field(default=0, ge=0, le=22)
    max_zoom: int = Field(default=18, ge=0, le=22)
    max_native_zoom: int | None = None
    opacity: float = Field(default=0.7, gt=0, le=1)

    @model_validator(mode="after")
    def _templates(self) -> TileSource:
        for url in self.urls:
            if not all(part in url for part in ("{z}", "{x}", "{y}")):
                raise ValueError(f"tile url {url!r} must contain {{z}}, {{x}} and {{y}}")
        return self


class KeyEntry(_Strict):
    """One colour of a raster overlay's key: what the colour means, and which of the
    overlay's tile URLs draws it (None: any of them)."""

    value: str = Field(pattern=r"^[a-z0-9_]+$")  # a stable code, e.g. depth_0_5
    color: str = Field(pattern=_COLOUR.pattern)
    label: Text
    tiles: int | None = Field(default=None, ge=0)  # index into source.urls

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as red, green and blue, 0 to 255."""
        return (int(self.color[1:3], 16), int(self.color[3:5], 16), int(self.color[5:7], 16))


Source = Annotated[
    GeoJSONSource | WifiSource | ReportsSource | TileSource | TransitSource
    | WildlifeSource,
    Field(discriminator="type"),
]

PropertyType = Literal["string", "integer", "number", "boolean"]


class PropertySpec(_Strict):
    """A property the layer publishes: its key, where it comes from and its labels."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source: str | None = None  # the source's field name; None for a derived property
    label: Text
    type: PropertyType = "string"


#: How a shown value is written: a time in Japan time, はい/いいえ, a link, a number, the
#: name of a code in the reader's language, a place as 「…付近」, or the text as it is.
ShowFormat = Literal["text", "datetime", "yesno", "link", "number", "name", "near"]


class ShownProperty(_Strict):
    """A property a person reads in the popup, on the feature page and in the list view."""

    key: str
    format: ShowFormat = "text"
    label: Text | None = None  # None: the property's own label
    # The property holding the value in another language (``en: place_en``); a language
    # without one reads the next as geoapp.i18n.in_lang does (English, then ``key``).
    langs: dict[str, str] = Field(default_factory=dict)
    popup: bool = True  # False: on the feature page and in the list view only


class Style(_Strict):
    """How the layer is drawn."""

    color: str = Field(default="#1f5fa8", pattern=_COLOUR.pattern)
    symbol: Literal["circle", "square", "triangle", "diamond", "line", "area"] = "circle"
    fill: bool = True
    weight: int = Field(default=2, ge=0, le=10)
    cluster: bool = False
    show: bool = True  # drawn when the page opens
    # Colour points by a property's value (e.g. report state); others keep `color`.
    color_by: str | None = None
    colors: dict[str, str] = Field(default_factory=dict)
    # A marker shape per value of color_by (e.g. bear triangle), so values differ by more
    # than colour; a value without one keeps `symbol`.
    symbols: dict[str, str] = Field(default_factory=dict)
    # What each value of color_by means, in words, for the legend and the markers' names
    # (a layer whose source names its values, e.g. the wildlife vocabulary, declares none).
    labels: dict[str, Text] = Field(default_factory=dict)
    # Lines and areas drawn in a colour each feature carries (e.g. a bus route's route_color).
    line_color_property: str | None = None

    @model_validator(mode="after")
    def _colours(self) -> Style:
        for value, colour in self.colors.items():
            if not _COLOUR.match(colour):
                raise ValueError(f"colour {colour!r} for {value!r} must look like #12ab34")
        if self.colors and not self.color_by:
            raise ValueError("colors needs color_by (the property they depend on)")
        if self.symbols and not self.color_by:
            raise ValueError("symbols needs color_by (the property they depend on)")
        if self.labels and not self.color_by:
            raise ValueError("labels needs color_by (the property they name the values of)")
        unnamed = sorted(set(self.colors) - set(self.labels)) if self.labels else []
        if unnamed:
            raise ValueError(f"labels names no text for the values {unnamed} of colors")
        for value, shape in self.symbols.items():
            if shape not in MARKER_SHAPES:
                raise ValueError(f"symbol {shape!r} for {value!r} must be one of "
                                 f"{', '.join(MARKER_SHAPES)}")
            if value not in self.colors:
                raise ValueError(f"symbol for {value!r} needs a colour for it in colors")
        return self


class Credit(_Strict):
    """The credit and licence the data's owner requires."""

    text: Text
    url: str | None = None
    licence: str
    licence_url: str | None = None


class CachePolicy(_Strict):
    """How long browsers and shared caches (a CDN, a reverse proxy) may reuse an answer.

    ``max_age`` seconds without asking, or ``no_cache``: ask every time, and get a cheap
    304 while the layer's data has not changed (every answer carries an ETag either way).
    """

    max_age: int | None = Field(default=None, ge=0, le=31_536_000)
    no_cache: bool = False

    @model_validator(mode="after")
    def _one(self) -> CachePolicy:
        if (self.max_age is None) == (not self.no_cache):
            raise ValueError("give either max_age (seconds) or no_cache: true")
        return self

    @property
    def header(self) -> str:
        """The Cache-Control header value."""
        return "public, no-cache" if self.no_cache else f"public, max-age={self.max_age}"


class LayerSpec(_Strict):
    """One map layer: what it is, where its data comes from, how it is shown, who may see it."""

    id: str
    title: Text
    description: Text
    public: bool = True
    order: int = 100
    source: Source
    marker_label: Text | None = None  # prefix of each marker's text alternative
    label_property: str | None = None  # the property naming a feature
    # The label property's copies in other languages (``en: label_en``), for the markers'
    # names; a language without one reads English, then the label property.
    label_langs: dict[str, str] = Field(default_factory=dict)
    # A property holding a code the layer's source names in the reader's language (a
    # report's category_code): a feature's title in popups and on its page is that name,
    # so a third language's catalogue names it too; else the label property's value.
    title_by: str | None = None
    link_property: str | None = None  # a property holding the feature's own page URL
    image_property: str | None = None  # a property holding a thumbnail URL for popups
    properties: list[PropertySpec] = Field(default_factory=list)
    # What a person reads, in this order (codes and the other language's copies stay in
    # the data for API clients); None: every property, formatted by its type.
    show: list[ShownProperty] | None = None
    enrich: list[Literal["wifi"]] = Field(default_factory=list)
    style: Style = Style()
    credit: Credit
    provisional: bool = False
    provisional_note: Text | None = None
    # A raster overlay's key: its colours as the tiles' publisher defines them (shown with
    # the overlay, and read back from a tile's pixel by geoapp.hazards).
    key: list[KeyEntry] = Field(default_factory=list)
    key_caveat: Text | None = None  # what the key cannot tell (shown with it)
    # Until declared, answers are revalidated every time: stale data is the worse failure.
    cache: CachePolicy = CachePolicy(no_cache=True)

    @property
    def shown(self) -> list[ShownProperty]:
        """What a person reads: the declared ``show``, else every property but the one that
        names the feature (its title), by its type."""
        if self.show is not None:
            return self.show
        formats: dict[str, ShowFormat] = {"boolean": "yesno", "integer": "number",
                                          "number": "number", "string": "text"}
        return [ShownProperty(key=p.key, format=formats[p.type]) for p in self.properties
                if p.key != self.label_property]

    def prop(self, key: str) -> PropertySpec:
        """The declared property ``key``."""
        return next(p for p in self.properties if p.key == key)

    @property
    def is_tiles(self) -> bool:
        """Whether this is a raster overlay rather than a feature collection."""
        return isinstance(self.source, TileSource)

    @model_validator(mode="after")
    def _consistent(self) -> LayerSpec:
        if not _ID.match(self.id):
            raise ValueError(f"id {self.id!r} must be lower-case letters, digits and _")
        keys = [p.key for p in self.properties]
        if len(keys) != len(set(keys)):
            raise ValueError("property keys must be unique")
        derived = {"wifi", "wifi_ssids"} if "wifi" in self.enrich else set()
        for prop in self.properties:
            if prop.source is None and prop.key not in derived:
                raise ValueError(f"property {prop.key!r} needs a source field")
        for name in ("label_property", "title_by", "link_property", "image_property"):
            value = getattr(self, name)
            if value is not None and value not in keys:
                raise ValueError(f"{name} {value!r} is not a declared property")
        for key in self.label_langs.values():
            if key not in keys:
                raise ValueError(f"label_langs: {key!r} is not a declared property")
        for shown in self.show or []:
            for key in (shown.key, *shown.langs.values()):
                if key not in keys:
                    raise ValueError(f"show: {key!r} is not a declared property")
        if self.style.line_color_property not in (None, *keys):
            raise ValueError(f"style.line_color_property {self.style.line_color_property!r} "
                             "is not a declared property")
        if self.style.color_by is not None and self.style.color_by not in keys:
            raise ValueError(f"style.color_by {self.style.color_by!r} is not a declared property")
        if not self.is_tiles and not self.properties:
            raise ValueError("a feature layer must declare the properties it shows")
        if self.key and not isinstance(self.source, TileSource):
            raise ValueError("only a raster overlay (type: tiles) declares a key")
        if isinstance(self.source, TileSource):
            for entry in self.key:
                if entry.tiles is not None and entry.tiles >= len(self.source.urls):
                    raise ValueError(f"key entry {entry.value!r}: tiles {entry.tiles} names "
                                     f"no url (there are {len(self.source.urls)})")
        if len({e.value for e in self.key}) != len(self.key):
            raise ValueError("key values must be unique")
        if self.provisional and self.provisional_note is None:
            raise ValueError("a provisional layer must say why (provisional_note)")
        return self

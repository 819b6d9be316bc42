"""Building the public map page's Folium map from the catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import folium
from branca.element import Figure
from folium.plugins import LocateControl

from geoapp import japantime
from geoapp.catalog.display import label_of
from geoapp.catalog.registry import Catalog, Layer
from geoapp.catalog.spec import TileSource
from geoapp.features import tiles
from geoapp.i18n import DEFAULT_LANG, Lang, t
from geoapp.maps import symbols
from geoapp.maps.buses import add_buses, is_bus_positions
from geoapp.maps.elements import CityMap, FetchedLayer, MapFinish, MapSetup
from geoapp.maps.view import ViewSetup, view_config
from geoapp.reports.layer import ReportSource
from geoapp.settings import Settings
from geoapp.web.assets import Assets

#: Features per request when the browser loads a layer (it follows `next` links).
PAGE_SIZE = 1000

def _mt(key: str, lang: Lang) -> str:
    return t(f"map.{key}", lang)


@dataclass(frozen=True)
class LegendEntry:
    """One colour (and shape) of a layer drawn by a property's value: its symbol and what
    it means."""

    value: str
    color: str
    icon: str  # the symbol as a data: URI
    label: str


@dataclass(frozen=True)
class MapParts:
    """The rendered map, in the three places of a page it belongs, and its legend."""

    header: str
    html: str
    script: str
    #: By layer id, the colours of layers drawn by a property's value (for the side list).
    legend: dict[str, list[LegendEntry]] = field(default_factory=dict)


def layer_name(layer: Layer, lang: Lang) -> str:
    """The layer's title as listed, with a 'sample' or 'provisional' mark (plain text)."""
    name = layer.spec.title(lang)
    if layer.sample:
        name = t("marked", lang, text=name, mark=t("sample", lang))
    return name


def _credit_html(layer: Layer, lang: Lang) -> str:
    """The credit as HTML for Leaflet's attribution (which uses innerHTML): escaped, and
    linked only to a web address (never a javascript: or data: URL)."""
    credit = layer.spec.credit
    label = escape(credit.text(lang))
    if credit.url and credit.url.startswith(("https://", "http://")):
        return f'<a href="{escape(credit.url)}">{label}</a>'
    return label


def _value_label(layer: Layer, value: str, lang: Lang) -> str:
    """What a colour-by value means, in words (the value itself when it has no name)."""
    declared = layer.spec.style.labels.get(value)
    if declared is not None:
        return declared(lang)
    # A source with a vocabulary of its own names its values (one list, one "other").
    named = getattr(layer.source, "value_label", None)
    return (named(value, lang) if named else None) or value


def legend_entries(layer: Layer, lang: Lang) -> list[LegendEntry]:
    """The colours a layer is drawn in by a property's value, with what each means."""
    style = layer.spec.style
    if not style.color_by:
        return []
    return [LegendEntry(value, colour,
                        symbols.data_uri(style.symbols.get(value, style.symbol), colour),
                        _value_label(layer, value, lang))
            for value, colour in style.colors.items()]


def _tiled(layer: Layer) -> bool:
    """Whether the map draws the layer from vector tiles: the reports (of any number)."""
    return isinstance(layer.source, ReportSource)


def _keys_in(key: str, langs: dict[str, str], lang: Lang) -> list[str]:
    """The properties holding a value, in the order ``lang`` reads them: ``key`` itself in
    Japanese; else its copy in ``lang``, then English, then ``key`` (as in_lang falls back)."""
    if lang == DEFAULT_LANG:
        return [key]
    return list(dict.fromkeys(k for k in (langs.get(lang), langs.get("en"), key) if k))


def feature_config(layer: Layer, lang: Lang, root: str) -> dict[str, object]:
    """What geoapp-map.js needs to fetch, draw and describe one feature layer."""
    spec = layer.spec
    names = layer.shown_names(lang)
    style = spec.style
    labels = {p.key: p.label(lang) for p in spec.properties}
    legend = legend_entries(layer, lang)
    return {
        "id": spec.id,
        "title": layer_name(layer, lang),
        "url": f"{root}/collections/{spec.id}/items?limit={PAGE_SIZE}&lang={lang}",
        "itemUrl": f"{root}/collections/{spec.id}/items/",
        "kind": "area" if style.symbol == "area" else "point",
        "color": style.color,
        "weight": style.weight,
        "fill": style.fill,
        "cluster": style.cluster,
        "icon": symbols.data_uri(style.symbol, style.color),
        # Points drawn by a property's value: an icon and a name per value (others: `icon`).
        "colorBy": style.color_by,
        "lineColorProperty": style.line_color_property,
        "colors": dict(style.colors),
        "icons": {e.value: e.icon for e in legend},
        "colorLabels": {e.value: e.label for e in legend},
        # A feature's own page and photo, shown in its popup (named by their labels).
        "linkProperty": spec.link_property,
        "linkLabel": labels.get(spec.link_property or "", ""),
        "imageProperty": spec.image_property,
        "imageAlt": labels.get(spec.image_property or "", ""),
        "photoOf": t("photo_of", lang, title="{title}"),
        "alsoHere": _mt("also_here", lang),
        "markerLabel": (spec.marker_label or spec.title)(lang),
        "clusterLabel": _mt("cluster", lang),
        "labelProperty": spec.label_property,
        # A marker's name, where the label has copies in other languages: the one in this
        # language first (a third one falls back); else the popup's title names it.
        "labelKeys": _keys_in(spec.label_property, spec.label_langs, lang)
                     if spec.label_property and spec.label_langs else [],
        # A popup's title: the name in this language of the code in `titleBy`, if any.
        "titleBy": spec.title_by,
        "titles": layer.titles(lang),
        # What a person reads in the popup (the layer's `show`), labelled in this language;
        # `keys`: where the value is, in this language first (a third one falls back).
        "props": [
            {"key": s.key, "label": label_of(spec, s, lang), "format": s.format,
             "keys": _keys_in(s.key, s.langs, lang),
             **({"names": names[s.key]} if s.key in names else {})}
            for s in spec.shown if s.popup
        ],
        "yesNo": [t("answer_yes", lang), t("answer_no", lang)],
        "near": t("place_near", lang, place="{place}"),
        "months": list(japantime.MONTHS_EN),
        "attribution": _credit_html(layer, lang),
        "lang": lang,
        "yes": t("yes", lang),
        "no": t("no", lang),
        "wifiYes": t("wifi_yes", lang),
        "wifiNo": t("wifi_no", lang),
        "detailLabel": t("list_view", lang),
        "failMessage": t("loading_failed", lang),
        # Layers of the store are drawn from vector tiles (any number of features).
        **({"tiles": f"{root}/collections/{spec.id}/tiles/{tiles.TMS_ID}/{{z}}/{{y}}/{{x}}",
            "tileMaxZoom": tiles.MAX_ZOOM} if _tiled(layer) else {}),
    }


def base_map(settings: Settings, assets: Assets, lang: Lang, *, zoom: int | None = None,
             center: tuple[float, float] | None = None,
             setup: dict[str, object] | None = None) -> CityMap:
    """A map with the base tiles, Japanese/English controls and geoapp's map script.

    Every script and stylesheet comes from geoapp itself, never from a CDN. ``setup`` adds
    to the configuration geoapp's setupMap receives.
    """
    m = CityMap(
        location=list(center or settings.map_center),
        zoom_start=settings.map_zoom if zoom is None else zoom,
        tiles=None,
        zoom_control=False,
        control_scale=True,
        width="100%",
        height="100%",
    )
    m.default_js = [("leaflet", assets.vendor("leaflet", "dist/leaflet.js"))]
    m.default_css = [("leaflet_css", assets.vendor("leaflet", "dist/leaflet.css"))]
    folium.TileLayer(
        tiles=settings.tile_url,
        attr=settings.tile_attribution,
        name="base",
        max_zoom=settings.tile_max_zoom,
        control=False,
    ).add_to(m)
    MapSetup(
        {
            "regionLabel": t("map_region", lang),
            "zoomIn": t("zoom_in", lang),
            "zoomOut": t("zoom_out", lang),
            "credits": _mt("credits", lang),
            **(setup or {}),
        },
        js=[("geoapp_map", assets.own("geoapp-map.js"))],
        css=[],
    ).add_to(m)
    return m


def render(m: CityMap, legend: dict[str, list[LegendEntry]] | None = None) -> MapParts:
    """The map's header, body and script, for a page template."""
    figure = m.get_root()
    assert isinstance(figure, Figure)  # a map's root is the page it is drawn on
    figure.header._children.pop("meta_http", None)  # the page template declares its charset
    figure.render()
    return MapParts(
        header=figure.header.render(),
        html=figure.html.render(),
        script=figure.script.render(),
        legend=legend or {},
    )


def build_map(
    catalog: Catalog, settings: Settings, assets: Assets, lang: Lang, root: str = ""
) -> MapParts:
    """The map of every public layer; feature layers load by URL from the feature API."""
    m = base_map(settings, assets, lang, setup={"closePopup": _mt("close_popup", lang)})
    legend: dict[str, list[LegendEntry]] = {}
    cluster_js = [("markercluster", assets.vendor("leaflet.markercluster",
                                                  "dist/leaflet.markercluster.js"))]
    cluster_css = [
        ("markercluster_css", assets.vendor("leaflet.markercluster", "dist/MarkerCluster.css")),
        ("markercluster_default_css",
         assets.vendor("leaflet.markercluster", "dist/MarkerCluster.Default.css")),
    ]
    vectorgrid_js = [("vectorgrid", assets.vendor("leaflet.vectorgrid",
                                                  "dist/Leaflet.VectorGrid.bundled.min.js"))]
    for layer in catalog.public():
        if add_buses(m, layer, settings, assets, lang, root):  # live buses: a refreshing layer
            continue
        spec = layer.spec
        if isinstance(spec.source, TileSource):
            # Leaflet's layer control puts names into innerHTML: pass them escaped.
            group = folium.FeatureGroup(name=escape(layer_name(layer, lang)),
                                        show=spec.style.show)
            for url in spec.source.urls:
                folium.TileLayer(
                    tiles=url,
                    attr=_credit_html(layer, lang),
                    name=spec.id,
                    overlay=True,
                    control=False,
                    opacity=spec.source.opacity,
                    min_zoom=spec.source.min_zoom,
                    max_zoom=spec.source.max_zoom,
                    max_native_zoom=spec.source.max_native_zoom or spec.source.max_zoom,
                ).add_to(group)
            group.add_to(m)
            if spec.key:  # the overlay's key, beside it in the list (and on the map when on)
                legend[spec.id] = [LegendEntry(e.value, e.color,
                                               symbols.swatch(e.color),
                                               e.label(lang)) for e in spec.key]
        else:
            clustered = spec.style.cluster
            js = (cluster_js if clustered else []) + (vectorgrid_js if _tiled(layer) else [])
            FetchedLayer(
                escape(layer_name(layer, lang)),  # HTML for Leaflet's layer control
                feature_config(layer, lang, root),
                show=spec.style.show,
                js=js,
                css=cluster_css if clustered else [],
            ).add_to(m)
            entries = legend_entries(layer, lang)
            if entries:
                legend[spec.id] = entries
    locate = LocateControl(
        strings={
            "title": t("locate_me", lang),
            "metersUnit": _mt("metres", lang),
            "feetUnit": _mt("feet", lang),
            "popup": _mt("locate_popup", lang),
            "outsideMapBoundsMsg": _mt("locate_outside", lang),
        },
        flyTo=True,
    )
    locate.default_js = [("locate_js", assets.vendor("leaflet.locatecontrol",
                                                     "dist/L.Control.Locate.min.js"))]
    locate.default_css = [("locate_css", assets.vendor("leaflet.locatecontrol",
                                                       "dist/L.Control.Locate.min.css"))]
    locate.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    MapFinish({"layersLabel": _mt("layers_control", lang)}).add_to(m)
    # The view in the address, the share button and the keyboard's path through the map.
    names = {layer.id: layer.spec.title(lang) if is_bus_positions(layer)
             else layer_name(layer, lang) for layer in catalog.public()}
    ViewSetup(view_config(catalog, lang, names), assets).add_to(m)
    return render(m, legend)

"""Small Folium maps for reports: picking a location on the form, showing one report."""

from __future__ import annotations

import folium
from folium.template import Template

from geoapp.i18n import Lang, t
from geoapp.maps.builder import MapParts
from geoapp.maps.elements import CityMap, MapSetup
from geoapp.settings import Settings
from geoapp.web.assets import Assets


class LocationPicker(MapSetup):
    """Tap or click the map to set the form's latitude and longitude fields."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            geoapp.locationPicker({{ this._parent.get_name() }}, {{ this.config|tojson }});
        {% endmacro %}
        """
    )


class ReportMarker(MapSetup):
    """One report's location on its page."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            geoapp.reportMarker({{ this._parent.get_name() }}, {{ this.config|tojson }});
        {% endmacro %}
        """
    )


def base_map(settings: Settings, assets: Assets, lang: Lang, *, zoom: int,
             center: tuple[float, float] | None = None) -> CityMap:
    """A map with the base tiles, Japanese/English controls and geoapp's script."""
    m = CityMap(location=list(center or settings.map_center), zoom_start=zoom, tiles=None,
                zoom_control=False, control_scale=True, width="100%", height="100%")
    m.default_js = [("leaflet", assets.vendor("leaflet", "dist/leaflet.js"))]
    m.default_css = [("leaflet_css", assets.vendor("leaflet", "dist/leaflet.css"))]
    folium.TileLayer(tiles=settings.tile_url, attr=settings.tile_attribution, name="base",
                     max_zoom=settings.tile_max_zoom, control=False).add_to(m)
    MapSetup({"regionLabel": t("map_region", lang), "zoomIn": t("zoom_in", lang),
              "zoomOut": t("zoom_out", lang)},
             js=[("geoapp_map", assets.own("geoapp-map.js"))], css=[]).add_to(m)
    return m


def render(m: CityMap) -> MapParts:
    """The map's header, body and script, for a page template."""
    figure = m.get_root()
    figure.header._children.pop("meta_http", None)  # the page template declares its charset
    figure.render()
    return MapParts(figure.header.render(), figure.html.render(), figure.script.render())


def build_picker_map(settings: Settings, assets: Assets, lang: Lang) -> MapParts:
    """The form's map: tapping it sets the location fields (they stay typeable too)."""
    m = base_map(settings, assets, lang, zoom=settings.map_zoom)
    LocationPicker({"latField": "lat", "lonField": "lon",
                    "markerLabel": t("chosen_location", lang)},
                   js=[("geoapp_report", assets.own("geoapp-report.js"))], css=[]).add_to(m)
    return render(m)


def build_report_map(settings: Settings, assets: Assets, lang: Lang,
                     lat: float, lon: float) -> MapParts:
    """A small map centred on one report."""
    m = base_map(settings, assets, lang, zoom=16, center=(lat, lon))
    ReportMarker({"lat": lat, "lon": lon, "markerLabel": t("report_location", lang)},
                 js=[("geoapp_report", assets.own("geoapp-report.js"))], css=[]).add_to(m)
    return render(m)

"""Small Folium maps for reports: picking a location on the form, showing one report."""

from __future__ import annotations

from folium.template import Template

from geoapp.i18n import Lang, t
from geoapp.maps.builder import MapParts, base_map, render
from geoapp.maps.elements import MapSetup
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


def build_picker_map(settings: Settings, assets: Assets, lang: Lang) -> MapParts:
    """The form's map: tapping it sets the location fields (they stay typeable too)."""
    m = base_map(settings, assets, lang)
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

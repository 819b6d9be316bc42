"""The live buses on a Folium map: a layer the browser refreshes every few seconds."""

from __future__ import annotations

from html import escape
from typing import Any

import folium
from folium.elements import JSCSSMixin
from folium.map import Layer as FoliumLayer
from folium.template import Template

from geoapp.catalog.registry import Catalog, Layer
from geoapp.catalog.spec import TransitSource
from geoapp.i18n import Lang, t
from geoapp.settings import Settings
from geoapp.web.assets import Assets


class BusLayer(JSCSSMixin, FoliumLayer):
    """Bus markers fetched from the positions layer and moved in place, never reloaded."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = geoappBuses.busLayer(
                {{ this._parent.get_name() }}, {{ this.config|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, name: str, config: dict[str, Any], assets: Assets) -> None:
        super().__init__(name=name, overlay=True, control=True, show=config["show"])
        self._name = "BusLayer"
        self.config = config
        self.default_js = [("geoapp_buses", assets.own("geoapp-buses.js"))]
        self.default_css = [("geoapp_buses_css", assets.own("geoapp-buses.css"))]


def is_bus_positions(layer: Layer) -> bool:
    """Whether the layer is the live bus positions (drawn by BusLayer, not fetched once)."""
    source = layer.spec.source
    return isinstance(source, TransitSource) and source.kind == "vehicles"


def bus_layer(layer: Layer, settings: Settings, assets: Assets, lang: Lang,
              root: str = "") -> BusLayer:
    """The refreshing layer for the bus positions layer."""
    config = {
        "id": layer.id,
        "url": f"{root}/collections/{layer.id}/items?limit=1000&lang={lang}",
        "refreshSeconds": settings.bus_refresh,
        "show": layer.spec.style.show,
        "busLabel": t("bus", lang),
        "routeLabel": t("bus_route", lang),
        "timeLabel": t("bus_position_time", lang),
        "staleLabel": t("bus_stale", lang),
        "staleNote": t("bus_stale_note", lang),
    }
    return BusLayer(escape(layer.spec.title(lang)), config, assets)


def add_buses(m: folium.Map, layer: Layer, settings: Settings, assets: Assets, lang: Lang,
              root: str = "") -> bool:
    """Put the live buses on ``m`` if ``layer`` is their layer; whether it was."""
    if not is_bus_positions(layer):
        return False
    bus_layer(layer, settings, assets, lang, root).add_to(m)
    return True


def bus_layers(catalog: Catalog) -> list[Layer]:
    """The public community bus layers, in display order."""
    return [layer for layer in catalog.public()
            if isinstance(layer.spec.source, TransitSource)]

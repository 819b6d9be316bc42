"""The map's view in its address and the keyboard's path through it (geoapp-view.js).

The page tells the script which layer-control entry is which layer (by the name the
control shows), so the address can name layers by their ids in either language.
"""

from __future__ import annotations

from html import escape

from geoapp.catalog.registry import Catalog
from geoapp.i18n import Lang, t
from geoapp.maps.elements import MapSetup
from geoapp.web.assets import Assets


class ViewSetup(MapSetup):
    """Keeps the view in the URL, adds the share button, orders the map's keyboard stops.

    Add it after MapFinish: it reads the layer control Leaflet has made.
    """

    _function = "setupView"

    def __init__(self, config: dict[str, object], assets: Assets) -> None:
        super().__init__(config, js=[("geoapp_view", assets.own("geoapp-view.js"))],
                         css=[("geoapp_view_css", assets.own("geoapp-view.css"))])
        self._name = "ViewSetup"


def control_name(layer_title: str) -> str:
    """A layer's name as the layer control holds it: escaped as build_map passes it (Leaflet
    puts it into innerHTML)."""
    return escape(layer_title)


def view_config(catalog: Catalog, lang: Lang, names: dict[str, str]) -> dict[str, object]:
    """The script's configuration: each layer's id and control name, and its texts.

    ``names`` maps each public layer's id to the plain-text name it was given in the layer
    control (titles carry a 'sample' mark in some cases, the live buses never).
    """
    return {
        "layers": [{"id": layer.id, "name": control_name(names[layer.id])}
                   for layer in catalog.public() if layer.id in names],
        "share": t("map.share_button", lang),
        "copied": t("map.share_copied", lang),
        "shared": t("map.share_shared", lang),
        "selectIt": t("map.share_select", lang),
        "fieldLabel": t("map.share_field", lang),
    }


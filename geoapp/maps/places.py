"""What the map page's "nearest" and "hazards here" panel (geoapp-nearest.js) needs: the
API addresses, its texts, and the hazard overlays' keys to show while they are on."""

from __future__ import annotations

import json
from html import escape

from markupsafe import Markup

from geoapp.catalog.registry import Catalog
from geoapp.i18n import Lang, t
from geoapp.maps.builder import layer_name

#: The texts the panel's script shows, by the catalogue key they come from.
_TEXTS = (
    "nearest.from_here", "nearest.from_location", "nearest.searching", "nearest.failed",
    "nearest.none", "nearest.where", "nearest.show_on_map", "nearest.found",
    "nearest.list_heading", "nearest.origin_location", "nearest.origin_point",
    "nearest.origin_centre", "nearest.with_wifi", "hazards.here", "hazards.line",
    "hazards.checking", "hazards.failed", "hazards.list_heading", "hazards.nothing_drawn",
    "hazards.not_safe", "hazards.outside_city", "legend_heading", "marked")


def panel_config(catalog: Catalog, lang: Lang, root: str) -> Markup:
    """The panel's configuration as JSON escaped for a single-quoted attribute (no inline
    script). Its double quotes and Japanese stay as they are: a third of the bytes."""
    # The keys themselves are in the layer list (each overlay's ``ul.legend``): the script
    # copies them from there rather than the page carrying them twice.
    overlays = [{"id": layer.id, "name": escape(layer_name(layer, lang))}
                for layer in catalog.public() if layer.spec.key]
    data = json.dumps({
        "lang": lang,
        "nearestUrl": f"{root}/nearest",
        "hazardsUrl": f"{root}/hazards",
        "texts": {key: t(key, lang) for key in _TEXTS},
        "overlays": overlays,
    }, ensure_ascii=False, separators=(",", ":"))
    return Markup(data.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                  .replace("'", "&#39;"))

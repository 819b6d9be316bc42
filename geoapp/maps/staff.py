"""Staff maps: the filtered queue on a map, and one report among its neighbours."""

from __future__ import annotations

from html import escape

from geoapp.catalog.registry import Catalog
from geoapp.i18n import Lang, t
from geoapp.maps.builder import MapParts, base_map, feature_config, render
from geoapp.maps.elements import FetchedLayer
from geoapp.settings import Settings
from geoapp.web.assets import Assets


def build_staff_map(catalog: Catalog, settings: Settings, assets: Assets, lang: Lang,
                    data_url: str, *, center: tuple[float, float] | None = None,
                    zoom: int | None = None) -> MapParts:
    """Reports from a staff GeoJSON URL (staff-only fields, links to staff pages).

    The public reports layer's declaration gives the symbols, colours and labels, so staff
    and the public see a report drawn the same way.
    """
    layer = catalog.collection("reports")
    config = feature_config(layer, lang, settings.base_url)
    # Staff read their own GeoJSON (with staff-only fields), never the public vector tiles.
    config.pop("tiles", None)
    config.update(id="staff_reports", url=data_url, title=t("staff_queue", lang),
                  cluster=False, imageProperty=None)
    m = base_map(settings, assets, lang, zoom=zoom, center=center)
    FetchedLayer(escape(t("staff_queue", lang)), config, show=True, js=[], css=[]).add_to(m)
    return render(m)

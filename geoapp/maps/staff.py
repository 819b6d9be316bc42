"""Staff maps: the filtered queue on a map, and one report among its neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from geoapp.catalog.registry import Catalog
from geoapp.i18n import Lang, t
from geoapp.maps.builder import MapParts, base_map, feature_config, render
from geoapp.maps.elements import FetchedLayer
from geoapp.settings import Settings
from geoapp.web.assets import Assets


@dataclass(frozen=True)
class InView:
    """Draw only the reports in the map's view: asked for again after every move, at most
    ``limit`` at a time, with what was drawn said in the element ``status_id``."""

    limit: int
    status_id: str
    #: The queue's own area filter (minLon, minLat, maxLon, maxLat): the view within it.
    area: tuple[float, float, float, float] | None = None


def build_staff_map(catalog: Catalog, settings: Settings, assets: Assets, lang: Lang,
                    data_url: str, *, center: tuple[float, float] | None = None,
                    zoom: int | None = None, in_view: InView | None = None) -> MapParts:
    """Reports from a staff GeoJSON URL (staff-only fields, links to staff pages).

    The public reports layer's declaration gives the symbols, colours and labels, so staff
    and the public see a report drawn the same way. With ``in_view`` the browser adds the
    view's ``bbox`` to ``data_url`` and asks again whenever the map moves.
    """
    layer = catalog.collection("reports")
    config = feature_config(layer, lang, settings.base_url)
    # Staff read their own GeoJSON (with staff-only fields), never the public vector tiles.
    config.pop("tiles", None)
    config.update(id="staff_reports", url=data_url, title=t("staff_queue", lang),
                  cluster=False, imageProperty=None)
    m = base_map(settings, assets, lang, zoom=zoom, center=center)
    if in_view is not None:
        limit = f"{in_view.limit:,}"
        config.update(inView=True, limit=in_view.limit, statusId=in_view.status_id,
                      area=list(in_view.area) if in_view.area else None,
                      # {n} is filled in by the browser with the number drawn.
                      shownMessage=t("staff_map_shown", lang),
                      tooManyMessage=t("staff_map_too_many", lang, n=limit))
        if in_view.area:  # open on the area the queue is filtered to
            west, south, east, north = in_view.area
            m.fit_bounds([[south, west], [north, east]])
    FetchedLayer(escape(t("staff_queue", lang)), config, show=True, js=[], css=[]).add_to(m)
    return render(m)

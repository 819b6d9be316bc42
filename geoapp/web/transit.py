"""HTTP for the community bus: the bus map, stop pages, device position posts and the
GTFS-Realtime VehiclePositions feed."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated, Any

import folium
import orjson
from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from geoapp.i18n import t
from geoapp.japantime import JST
from geoapp.maps.builder import base_map, feature_config, layer_name, render
from geoapp.maps.buses import bus_layer, bus_layers, is_bus_positions
from geoapp.maps.elements import FetchedLayer, MapFinish
from geoapp.transit.service import BusService
from geoapp.web.context import CatalogDep, LangDep, SettingsDep, TemplatesDep
from geoapp.web.intake import bearer_key
from geoapp.web.problems import documented

PROTOBUF = "application/x-protobuf"

router = APIRouter(tags=["Community bus"])


def _buses(request: Request) -> BusService:
    return request.app.state.buses


BusesDep = Annotated[BusService, Depends(_buses)]


def _now() -> datetime:
    return datetime.now(UTC)


def _feed_context(buses: BusService) -> dict[str, Any]:
    info = buses.timetable.info()
    if info is None:
        return {"feed": None}
    imported = info["imported_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M")
    name = info["publisher"] or info["source_name"]
    return {"feed": {"name": name, "imported": imported, "sample": info["sample"]}}


@router.get("/buses", include_in_schema=False)
def bus_map(request: Request, catalog: CatalogDep, settings: SettingsDep,
            templates: TemplatesDep, buses: BusesDep, lang: LangDep) -> Response:
    """The community bus map: routes, stops, reservation areas and the buses moving live."""
    root = settings.base_url
    m = base_map(settings, request.app.state.assets, lang)
    layers = bus_layers(catalog)
    for layer in layers:
        if is_bus_positions(layer):
            bus_layer(layer, settings, request.app.state.assets, lang, root).add_to(m)
        else:
            FetchedLayer(escape(layer_name(layer, lang)), feature_config(layer, lang, root),
                         show=layer.spec.style.show, js=[], css=[]).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    MapFinish({"layersLabel": t("buses_layers", lang)}).add_to(m)
    return templates.TemplateResponse(request, "transit/map.html", {
        "map": render(m), "layers": layers, **_feed_context(buses)})


@router.get("/buses/stops/{stop_id}", include_in_schema=False)
def stop_page(stop_id: str, request: Request, buses: BusesDep, templates: TemplatesDep,
              lang: LangDep, f: str | None = Query(None, description="html or json")
              ) -> Response:
    """A stop's page: its names and the next departures today, honouring the calendar."""
    stop = buses.timetable.stop(stop_id)
    children = [s["stop_id"] for s in buses.timetable.stops()
                if s["parent_station"] == stop_id]
    now = _now()
    found = buses.timetable.departures(now, [stop_id, *children], per_stop=20)
    leaving = sorted((d for items in found.values() for d in items),
                     key=lambda d: d.seconds)[:20]
    if f == "json":
        body = {"stop": stop, "now": now.astimezone(JST).isoformat(timespec="seconds"),
                "departures": [d.__dict__ for d in leaving]}
        return Response(orjson.dumps(body), media_type="application/json")
    return templates.TemplateResponse(request, "transit/stop.html", {
        "stop": stop, "departures": leaving,
        "now": now.astimezone(JST).strftime("%H:%M"), **_feed_context(buses)})


@router.post("/api/v1/buses/positions", summary="Post a bus's position (device key)",
             status_code=201, responses=documented(401, 403, 413, 422))
async def post_position(request: Request, buses: BusesDep) -> Response:
    """A bus reports where it is: JSON vehicle, trip or route, lat, lon, bearing, timestamp.

    Send the device key as ``Authorization: Bearer KEY``. The key is checked before the
    body is read; the body is bounded by the intake's position door.
    """
    key = bearer_key(request)
    buses.positions.vehicles.for_key(key)  # 401 before a byte of the body is read
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None  # refused by report(), after the key is checked
    position = buses.positions.report(key, body, _now())
    answer = {"vehicle": position.vehicle_id, "lat": position.lat, "lon": position.lon,
              "observed_at": position.observed_at.isoformat(timespec="seconds")}
    return Response(orjson.dumps(answer), status_code=201, media_type="application/json")


@router.get("/gtfs-rt/vehicle-positions", summary="GTFS-Realtime VehiclePositions",
            response_class=Response,
            responses={200: {"content": {PROTOBUF: {}}}})
def vehicle_positions(buses: BusesDep) -> Response:
    """Every bus's latest position as a GTFS-Realtime FeedMessage (protobuf)."""
    return Response(buses.positions.to_gtfs_rt(_now()), media_type=PROTOBUF,
                    headers={"Cache-Control": "no-cache"})

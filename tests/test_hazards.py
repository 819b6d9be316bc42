"""``GET /hazards``: the hazard overlays' pixels at a point, read from a local tile server
started here (never the internet), named by the keys the layer files declare."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from geoapp.app import create_app
from geoapp.hazards import tile_pixel
from geoapp.settings import Settings
from tests.conftest import _free_port

#: 新発田駅: the point every test asks about.
LAT, LON = 37.9479, 139.3308
ZOOM = 17  # the overlays' max_native_zoom: the zoom geoapp reads
FLOOD = "/raster/01_flood_l2_shinsuishin_data"
DEBRIS, STEEP, SLIDE = ("/raster/05_dosekiryukeikaikuiki", "/raster/05_kyukeishakeikaikuiki",
                        "/raster/05_jisuberikeikaikuiki")


def _png(colour: tuple[int, int, int, int], at: tuple[int, int] | None = None,
         ground: tuple[int, int, int, int] = (0, 0, 0, 0)) -> bytes:
    """A tile of one colour, or of ``ground`` with ``colour`` only at pixel ``at``."""
    image = Image.new("RGBA", (256, 256), ground if at else colour)
    if at:
        image.putpixel(at, colour)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class TileServer:
    """A threaded HTTP server answering from ``tiles`` (path → bytes, or an int status)."""

    def __init__(self) -> None:
        self.tiles: dict[str, bytes | int] = {}
        self.hits: list[str] = []
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.hits.append(self.path)
                time.sleep(server.delay)
                body = server.tiles.get(self.path, 404)
                if isinstance(body, int):
                    self.send_response(body)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def put(self, tileset: str, body: bytes | int) -> None:
        """Serve ``body`` as the tile of ``tileset`` holding the test point."""
        x, y, _, _ = tile_pixel(LON, LAT, ZOOM)
        self.tiles[f"{tileset}/{ZOOM}/{x}/{y}.png"] = body

    def stop(self) -> None:
        """Shut the server down."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tiles() -> Iterator[TileServer]:
    server = TileServer()
    yield server
    server.stop()


def _client(tmp_path: Path, base: str) -> TestClient:
    return TestClient(create_app(Settings(environment="test", data_dir=tmp_path / "var",
                                          hazard_tile_base=base, hazard_tile_timeout=1.0)))


@pytest.fixture
def client(tiles: TileServer, tmp_path: Path) -> Iterator[TestClient]:
    with _client(tmp_path, tiles.url) as test_client:
        yield test_client


def _layer(body: dict, layer_id: str) -> dict:
    return next(layer for layer in body["layers"] if layer["id"] == layer_id)


@pytest.mark.parametrize(("rgb", "value"), [
    ((247, 245, 169), "depth_under_0_5"), ((255, 216, 192), "depth_0_5_to_3"),
    ((255, 183, 183), "depth_3_to_5"), ((255, 145, 145), "depth_5_to_10"),
    ((242, 133, 201), "depth_10_to_20"), ((220, 122, 220), "depth_20_and_over")])
def test_each_flood_depth_rank_is_read_from_its_colour(client, tiles, rgb, value):
    tiles.put(FLOOD, _png((*rgb, 255)))
    answer = client.get("/hazards", params={"lat": LAT, "lon": LON})
    assert answer.status_code == 200
    body = answer.json()
    flood = _layer(body, "hazard_flood")
    assert [e["value"] for e in flood["found"]] == [value]
    assert flood["pixels"] == [{"tiles": 0, "rgba": [*rgb, 255]}]
    assert body["credit"] == "出典：ハザードマップポータルサイト"
    assert "安全" in body["notes"][0]
    assert _layer(body, "hazard_landslide")["found"] == []  # no landslide tiles: nothing drawn


def test_only_the_pixel_at_the_point_counts(client, tiles):
    _, _, px, py = tile_pixel(LON, LAT, ZOOM)
    tiles.put(FLOOD, _png((255, 145, 145, 255), at=(px, py)))
    flood = _layer(client.get("/hazards", params={"lat": LAT, "lon": LON}).json(),
                   "hazard_flood")
    assert [e["value"] for e in flood["found"]] == ["depth_5_to_10"]
    # The pixel beside it is transparent: a point there has nothing drawn.
    beside_lon = LON + 1.5 * 360 / (256 * 2**ZOOM)
    flood = _layer(client.get("/hazards", params={"lat": LAT, "lon": beside_lon}).json(),
                   "hazard_flood")
    assert flood["found"] == [] and flood["pixels"][0]["rgba"][3] == 0


def test_a_transparent_pixel_is_nothing_drawn_and_said_not_to_be_safe(client, tiles):
    tiles.put(FLOOD, _png((0, 0, 0, 0)))
    body = client.get("/hazards", params={"lat": LAT, "lon": LON, "lang": "en"}).json()
    assert _layer(body, "hazard_flood")["found"] == []
    assert body["notes"][0].startswith("Nothing shown does not mean safe")
    assert "No colour does not mean safe" in _layer(body, "hazard_flood")["caveat"]


@pytest.mark.parametrize(("rgba", "value"), [
    ((252, 200, 188, 255), "depth_0_5_to_3"),  # between 0.5–3 m and 3–5 m, nearer the first
    ((255, 175, 175, 120), "depth_3_to_5"),  # a half-transparent edge pixel
    ((250, 240, 175, 30), "depth_under_0_5"),
])
def test_an_anti_aliased_edge_colour_maps_to_the_nearest_rank(client, tiles, rgba, value):
    tiles.put(FLOOD, _png(rgba))
    flood = _layer(client.get("/hazards", params={"lat": LAT, "lon": LON}).json(),
                   "hazard_flood")
    assert [e["value"] for e in flood["found"]] == [value]


def test_landslide_areas_are_named_by_the_tile_set_they_come_from(client, tiles):
    # The same yellow would be nearer "steep slope" in the whole key; from the debris-flow
    # tiles it can only mean debris flow.
    tiles.put(DEBRIS, _png((255, 237, 76, 255)))
    tiles.put(SLIDE, _png((255, 183, 76, 255)))
    body = client.get("/hazards", params={"lat": LAT, "lon": LON, "lang": "en"}).json()
    landslide = _layer(body, "hazard_landslide")
    assert [e["value"] for e in landslide["found"]] == ["debris_flow", "landslide"]
    assert landslide["found"][0]["label"] == "Debris flow (warning area)"
    assert [p["rgba"] is None for p in landslide["pixels"]] == [False, True, False]


def test_tiles_are_kept_briefly_in_memory(client, tiles):
    tiles.put(FLOOD, _png((255, 216, 192, 255)))
    for _ in range(3):
        assert client.get("/hazards", params={"lat": LAT, "lon": LON}).status_code == 200
    flood_hits = [hit for hit in tiles.hits if hit.startswith(FLOOD)]
    assert len(flood_hits) == 1


def test_the_page_states_the_depth_the_source_and_the_caveat(client, tiles):
    tiles.put(FLOOD, _png((255, 183, 183, 255)))
    page = client.get("/hazards", params={"lat": LAT, "lon": LON, "f": "html"})
    assert page.status_code == 200
    assert "3.0〜5.0m未満" in page.text
    assert "出典：ハザードマップポータルサイト" in page.text
    assert "安全であることを意味しません" in page.text
    assert "この地図には、この地点に何も描かれていません" in page.text  # landslide
    form = client.get("/hazards", headers={"Accept": "text/html"})
    assert form.status_code == 200 and 'name="lat"' in form.text


def test_a_tile_server_that_is_down_answers_503_with_a_problem(tmp_path):
    with _client(tmp_path, f"http://127.0.0.1:{_free_port()}") as client:
        answer = client.get("/hazards", params={"lat": LAT, "lon": LON})
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "30"
    assert "ハザードマップのタイル" in answer.json()["detail"]


def test_a_slow_tile_server_times_out_within_bounds(client, tiles):
    tiles.delay = 3.0
    started = time.monotonic()
    answer = client.get("/hazards", params={"lat": LAT, "lon": LON, "lang": "en"})
    assert answer.status_code == 503
    # One timeout of 1 s for the four tile sets fetched together, not four in a row.
    assert time.monotonic() - started < 2.5
    assert "cannot be reached" in answer.json()["detail"]


@pytest.mark.parametrize("body", [500, b"<html>not a tile</html>"])
def test_a_broken_answer_from_the_tile_server_is_a_502(client, tiles, body):
    tiles.put(FLOOD, body)
    answer = client.get("/hazards", params={"lat": LAT, "lon": LON})
    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("params", [{"lat": "37.9"}, {"lon": "139.3"}, {"lat": "x", "lon": "1"},
                                    {"lat": "37.9", "lon": "200"}])
def test_bad_coordinates_answer_400(client, tiles, params):
    answer = client.get("/hazards", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert tiles.hits == []


def test_a_test_app_without_a_tile_base_never_reaches_the_internet(tmp_path):
    with TestClient(create_app(Settings(environment="test", data_dir=tmp_path / "v"))) as client:
        assert client.get("/hazards", params={"lat": LAT, "lon": LON}).status_code == 503


def test_a_key_is_declared_only_on_an_overlay_and_names_its_tile_sets():
    from pydantic import ValidationError

    from geoapp.catalog.spec import LayerSpec
    from geoapp.yamlfile import read_yaml

    flood = read_yaml(Path(__file__).resolve().parents[1] / "layers" / "hazard_flood.yaml")
    assert len(LayerSpec.model_validate(flood).key) == 6
    wrong_index = {**flood, "key": [{**flood["key"][0], "tiles": 1}]}
    with pytest.raises(ValidationError, match="names no url"):
        LayerSpec.model_validate(wrong_index)
    shelters = read_yaml(Path(__file__).resolve().parents[1] / "layers" / "shelters.yaml")
    with pytest.raises(ValidationError, match="only a raster overlay"):
        LayerSpec.model_validate({**shelters, "key": flood["key"]})


@pytest.mark.parametrize(("lang", "words"), [
    ("ja", ["0.5m未満", "20.0m以上", "土石流（警戒区域）",
            "色のない場所も浸水しないとは限りません"]),
    ("en", ["under 0.5 m", "20 m and over", "Debris flow (warning area)",
            "No colour does not mean safe"])])
def test_the_map_lists_each_overlay_s_key_beside_it(client, lang, words):
    html = client.get("/", params={"lang": lang}, headers={"Accept": "text/html"}).text
    flood = html[html.index('<li id="layer-hazard_flood">'):]
    for word in words:
        assert word in flood
    assert flood[:flood.index("</ul>")].count("<li data-value=") == 6

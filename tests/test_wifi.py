"""The public Wi-Fi list: reading the recommended format, matching, and swapping in a real list."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geoapp.app import create_app
from geoapp.cli import cli
from geoapp.errors import ImportRejected
from geoapp.wifi.csv_format import OLDER_FORMAT_HEADER, AccessPoint, parse
from geoapp.wifi.dataset import import_list
from geoapp.wifi.matching import Facility, match, normalise_name
from tests.conftest import TEST_DATA

TOKYO_CP932 = TEST_DATA / "sample_public_wireless_lan_tokyo_130001_20240901_cp932.csv"
TOKYO_UTF8 = TEST_DATA / "sample_public_wireless_lan_tokyo_130001_20240901_utf8.csv"


def _csv(rows: list[list[str]], header: list[str] = OLDER_FORMAT_HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _row(name: str, lat: str, lon: str, ssid: str = "00000JAPAN") -> list[str]:
    row = [""] * len(OLDER_FORMAT_HEADER)
    values = {"名称": name, "緯度": lat, "経度": lon, "SSID": ssid,
              "都道府県コード又は市区町村コード": "152064"}
    for key, value in values.items():
        row[OLDER_FORMAT_HEADER.index(key)] = value
    return row


@pytest.mark.parametrize("path", [TOKYO_CP932, TOKYO_UTF8], ids=["cp932", "utf8"])
def test_reads_tokyo_s_real_list_in_either_encoding(path):
    wifi = parse(path.read_bytes())
    assert len(wifi.points) == 737 and not wifi.problems
    assert wifi.encoding == ("cp932" if "cp932" in path.name else "utf-8")
    first = wifi.points[0]
    assert first.name == "公衆電話（江東区亀戸3-36-1）"
    assert first.ssids == ("FREE_Wi-Fi_and_TOKYO",)
    assert first.checked == "2024/9/1"


def test_reads_utf8_with_a_byte_order_mark():
    wifi = parse("\ufeff".encode() + TOKYO_UTF8.read_bytes())
    assert wifi.encoding == "utf-8-sig" and len(wifi.points) == 737


def test_reads_the_newer_municipal_standard_columns():
    header = ["全国地方公共団体コード", "ID", "名称", "所在地_連結表記", "緯度", "経度", "SSID"]
    wifi = parse(_csv([["152064", "A1", "市役所", "新発田市中央町3-3-3", "37.9477", "139.3275",
                        "Shibata_Free；00000JAPAN"]], header).encode())
    point = wifi.points[0]
    assert point.no == "A1" and point.address == "新発田市中央町3-3-3"
    assert point.ssids == ("Shibata_Free", "00000JAPAN")


def test_bad_rows_are_skipped_and_reported_with_their_line():
    text = _csv([_row("良い行", "37.95", "139.33"), _row("緯度なし", "", "139.33"),
                 _row("範囲外", "95", "139.33"), _row("", "37.9", "139.3"),
                 _row("SSIDなし", "37.9", "139.3", ssid="")])
    wifi = parse(text.encode())
    assert [p.name for p in wifi.points] == ["良い行"]
    assert [(p.line, p.reason.split()[0]) for p in wifi.problems] == [
        (3, "緯度/経度"), (4, "緯度/経度"), (5, "名称"), (6, "SSID")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        ("名称,住所\n市役所,新発田市\n".encode(), "緯度"),
        (b"\xff\xfe\x00\x81\xff", "neither UTF-8 nor CP932"),
        (_csv([_row("x", "abc", "def")]).encode(), "no usable rows"),
    ],
)
def test_unusable_files_are_rejected_whole(raw, message):
    with pytest.raises(ImportRejected, match=message):
        parse(raw)


def test_names_are_compared_across_widths_and_spacing():
    spaced = normalise_name("東豊コミュニティ　防災センター Wi-Fi")
    assert spaced == normalise_name("東豊ｺﾐｭﾆﾃｨ防災センター")


def _point(name: str, lat: float, lon: float) -> AccessPoint:
    return AccessPoint(1, "", "1", name, "", "", "", lat, lon, "", ("X",), "", "", "", "")


def test_matching_prefers_the_named_facility_then_the_nearest_one():
    school = Facility("s", "紫雲寺小学校", 139.3181, 38.014285)
    junior = Facility("j", "紫雲寺中学校", 139.316806, 38.015046)  # about 130 m away
    points = [
        _point("紫雲寺中学校 体育館", 38.014285, 139.3181),  # at the school, named for the junior
        _point("避難所AP", 38.01430, 139.31815),  # 5 m from the school, no name match
        _point("遠くのAP", 38.03, 139.40),  # near nothing
    ]
    assert match(points, [school, junior]) == ["j", "s", None]


def test_a_name_match_far_away_is_not_trusted():
    hall = Facility("h", "カルチャーセンター", 139.339702, 37.950315)
    assert match([_point("カルチャーセンター", 37.99, 139.34)], [hall]) == [None]  # 4.4 km off


def test_shelters_layer_says_which_shelters_have_wifi(client):
    body = client.get("/collections/shelters/items?limit=100").json()
    with_wifi = {f["properties"]["name"]: f["properties"]["wifi_ssids"]
                 for f in body["features"] if f["properties"]["wifi"]}
    assert len(with_wifi) == 9
    assert with_wifi["二葉小学校"] == "00000JAPAN"  # matched by distance, not name
    without = [f for f in body["features"] if not f["properties"]["wifi"]]
    assert all(f["properties"]["wifi_ssids"] == "" for f in without)


def test_each_access_point_names_the_facility_it_serves(client):
    body = client.get("/collections/wifi/items?limit=100").json()
    serves = {f["properties"]["name"]: f["properties"]["facility"] for f in body["features"]}
    assert serves["二葉地区 避難所アクセスポイント"] == "二葉小学校"
    assert serves["新発田駅前 観光案内所"] == ""


def test_the_sample_list_is_marked_as_sample_everywhere(client):
    assert client.get("/collections/wifi").json()["geoapp:sample"] is True
    map_page = client.get("/", headers={"Accept": "text/html"}).text
    assert 'id="sample-notice"' in map_page and "サンプルデータ" in map_page
    assert "サンプル" in client.get("/collections/wifi/items?f=html").text


def test_importing_the_city_list_replaces_the_sample_and_removes_the_notice(settings, tmp_path):
    city_list = tmp_path / "152064_public_wireless_lan.csv"
    city_list.write_bytes(_csv([_row("紫雲寺小学校", "38.014285", "139.3181", "Shibata_City"),
                                _row("市役所", "37.9477", "139.3275")]).encode("cp932"))
    result = CliRunner().invoke(cli, ["wifi", "import", str(city_list)],
                                env={"GEOAPP_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 0, result.output
    assert "imported 2 access points" in result.output
    with TestClient(create_app(settings)) as client:
        assert client.get("/collections/wifi").json()["geoapp:sample"] is False
        assert client.get("/collections/wifi/items").json()["numberMatched"] == 2
        assert 'id="sample-notice"' not in client.get("/", headers={"Accept": "text/html"}).text
        shelter = client.get("/collections/shelters/items/E1520600001111").json()
        assert shelter["properties"]["wifi_ssids"] == "Shibata_City"


def test_a_rejected_import_leaves_the_previous_list_in_place(settings, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(_csv([_row("市役所", "37.9477", "139.3275")]), encoding="utf-8")
    import_list(good, settings.data_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("名称,住所\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["wifi", "import", str(bad)],
                                env={"GEOAPP_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 1 and "rejected, nothing changed" in result.output
    with TestClient(create_app(settings)) as client:
        names = [f["properties"]["name"] for f in
                 client.get("/collections/wifi/items").json()["features"]]
        assert names == ["市役所"]


def test_reset_brings_the_sample_back(settings, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(_csv([_row("市役所", "37.9477", "139.3275")]), encoding="utf-8")
    import_list(good, settings.data_dir)
    result = CliRunner().invoke(cli, ["wifi", "reset"],
                                env={"GEOAPP_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 0
    with TestClient(create_app(settings)) as client:
        assert client.get("/collections/wifi").json()["geoapp:sample"] is True

"""The text catalogues: one file per language, every key in each, every key used, and a
third language added as a file (no code) speaks on pages and in errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from geoapp import i18n
from geoapp.app import create_app
from geoapp.errors import InvalidInput, PhotoRejected

ROOT = Path(__file__).resolve().parent.parent
CITY_HALL = {"lat": "37.9477", "lon": "139.3275"}
#: Keys whose name code builds from a field name (``f"{name}_required"`` for lat and lon).
BUILT_FROM_FIELD_NAMES = {f"error.report.{axis}_{what}" for axis in ("lat", "lon")
                          for what in ("required", "not_a_number", "out_of_range")}


def _sources() -> str:
    files = [*(ROOT / "geoapp").rglob("*.py"), *(ROOT / "templates").rglob("*.html"),
             *(ROOT / "templates").rglob("*.txt")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def _used(key: str, source: str) -> bool:
    """Whether code or a template names ``key``, whole or as family prefix + quoted suffix."""
    if re.search(rf"""["']{re.escape(key)}["']|\bT\.{re.escape(key)}\b""", source):
        return True
    # e.g. T['priority_' ~ p] with p in (1, 2, 3), or f"error.photo.{reason}" with "too_large"
    for cut in (i + 1 for i, char in enumerate(key) if char in "._"):
        prefix, suffix = key[:cut], key[cut:]
        built = re.search(rf"""(["']{re.escape(prefix)}["']\s*~|f["']{re.escape(prefix)}\{{)""",
                          source)
        if built and re.search(rf"""["'(, ]{re.escape(suffix)}["'),]""", source):
            return True
    return False


def test_every_language_has_every_key_with_the_same_placeholders():
    catalogues = i18n.load(i18n.LOCALES)
    assert {"ja", "en"} <= set(catalogues)
    assert catalogues["ja"].keys() == catalogues["en"].keys()
    assert catalogues["ja"]["error.photo.too_large"] == \
        "写真{n}は{mb:.1f}MBあります。{limit_mb:g}MB以下の写真を送ってください。"


def test_a_missing_key_or_a_wrong_placeholder_is_refused_at_start(tmp_path):
    ja = yaml.safe_load((i18n.LOCALES / "ja.yaml").read_text(encoding="utf-8"))
    en = yaml.safe_load((i18n.LOCALES / "en.yaml").read_text(encoding="utf-8"))
    (tmp_path / "ja.yaml").write_text(yaml.safe_dump(ja, allow_unicode=True), encoding="utf-8")
    del en["error"]["photo"]["truncated"]
    (tmp_path / "en.yaml").write_text(yaml.safe_dump(en, allow_unicode=True), encoding="utf-8")
    with pytest.raises(i18n.CatalogueError, match=r"missing \['error\.photo\.truncated'\]"):
        i18n.load(tmp_path)
    en["error"]["photo"]["truncated"] = "Photo {number} is cut off."  # {n} renamed
    (tmp_path / "en.yaml").write_text(yaml.safe_dump(en, allow_unicode=True), encoding="utf-8")
    with pytest.raises(i18n.CatalogueError, match="error.photo.truncated has placeholders"):
        i18n.load(tmp_path)


def test_every_key_is_used_somewhere():
    source = _sources()
    unused = [key for key in i18n.texts("ja")
              if key not in BUILT_FROM_FIELD_NAMES and not _used(key, source)]
    assert unused == []
    assert not _used("no_such_key_anywhere", source)


def test_errors_raised_with_a_key_speak_each_language():
    error = InvalidInput("description", key="error.report.description_too_long", max=4000)
    assert error.detail == "at most 4000 characters"
    assert error.detail_ja == "説明は4000文字以内にしてください"
    photo = PhotoRejected(2, "too_large", mb=20.0, limit_mb=15)
    assert photo.field == "photos[2]"
    assert photo.message("en") == "Photo 3 is 20.0 MB; at most 15 MB is accepted."
    assert photo.message("ja") == "写真3は20.0MBあります。15MB以下の写真を送ってください。"
    named = InvalidInput("photos", key="error.report.photo_needed",
                         category={"ja": "舗装の損傷", "en": "Pavement damage"})
    assert (named.detail, named.detail_ja) == ("Pavement damage needs a photo",
                                                "「舗装の損傷」には写真が必要です")


#: What the third language's catalogue calls some of the things kept as data (the rest it
#: leaves to the data's own names).
XX_NAMES = """
reports:
  category: {gutter: XX-gutters, pavement: XX-pavement}
  status: {received: XX-received, fixed: XX-fixed}
  department: {road: XX-road-office}
wildlife:
  species: {bear: XX-bear}
"""


@pytest.fixture
def third_language(tmp_path: Path) -> Iterator[str]:
    """A fake language ``xx``: English with a marker, added as a file the way a real one is,
    naming a few categories, states, a department and a species (XX_NAMES)."""
    en = (i18n.LOCALES / "en.yaml").read_text(encoding="utf-8")
    marked = re.sub(r"^(\s*[\w.-]+: )(['\"]?)", r"\1\2XX ", en, flags=re.M)
    (tmp_path / "xx.yaml").write_text(marked + XX_NAMES, encoding="utf-8")
    assert i18n.add_catalogues(tmp_path) == ("xx",)
    yield "xx"
    i18n.drop_catalogue("xx")


def test_a_third_language_is_a_catalogue_file(third_language, engine_settings):
    with TestClient(create_app(engine_settings)) as client:
        page = client.get("/reports/new?lang=xx").text
        assert '<html lang="xx">' in page and "XX Skip to content" in page
        # The language switch offers the next language along, then back to Japanese.
        assert 'hreflang="xx"' in client.get("/reports/new?lang=en").text
        assert "日本語" in page
        refused = client.post("/api/v1/reports", headers={"Accept-Language": "xx"}, data={
            "category": "gutter", "description": "", **CITY_HALL})
        assert refused.status_code == 422
        assert refused.json()["detail"] == "XX describe the problem"
        form = client.post("/reports/new?lang=xx", data={
            "lang": "xx", "category": "gutter", "description": "x", "lat": "37.9161",
            "lon": "139.0236"})
        assert form.status_code == 422 and "XX the location is outside Shibata City" in form.text
        missing = client.get("/reports/99999?lang=xx", headers={"Accept": "text/html"})
        assert missing.status_code == 404 and "XX Error 404" in missing.text


def _staff(app, client: TestClient) -> None:
    from tests.staff.conftest import PASSWORD, login

    app.state.accounts.create("road", PASSWORD, "road", datetime.now(UTC))
    login(client, "road")


def test_a_third_language_names_categories_states_and_species_from_its_catalogue(
        third_language, engine_settings):
    app = create_app(engine_settings)
    with TestClient(app) as client, TestClient(app) as staff:
        # A category added while the service runs has only its Japanese and English names.
        app.state.reports.store.seed({"categories": [{
            "code": "bench", "department": "parks", "name_ja": "ベンチ", "name_en": "Benches"}]})
        form = client.get("/reports/new?lang=xx").text
        assert ">XX-gutters<" in form and ">Benches<" in form and "側溝" not in form
        assert ">側溝・排水<" in client.get("/reports/new").text
        numbers = []
        for category in ("gutter", "bench"):
            posted = client.post("/reports/new?lang=xx", follow_redirects=False, data={
                "lang": "xx", "category": category, "description": "x", **CITY_HALL,
                "email": "resident@example.org"})
            assert posted.status_code == 303
            numbers.append(posted.headers["location"].split("/")[2])
        gutter, bench = numbers
        receipt = client.get(f"/reports/{gutter}/receipt?lang=xx").text
        assert "XX-gutters" in receipt and "XX-received" in receipt
        page = client.get(f"/reports/{gutter}?lang=xx").text
        assert "XX-gutters" in page and "XX-received" in page
        # A name the catalogue leaves out is the data's English one (never an empty cell).
        other = client.get(f"/reports/{bench}?lang=xx").text
        assert "Benches" in other and "XX-received" in other
        # The map's popups and a feature's page take their title from the same names.
        assert _layer_config(client, "xx", "reports")["titles"]["gutter"] == "XX-gutters"
        item = client.get(f"/collections/reports/items/{gutter}?f=html&lang=xx").text
        assert "<h1>XX-gutters</h1>" in item
        api = client.get(f"/api/v1/reports/{gutter}").json()
        assert api["category"] == {"code": "gutter", "ja": "側溝・排水",
                                   "en": "Gutters and drains", "xx": "XX-gutters"}
        assert api["status"]["xx"] == "XX-received" and api["status"]["ja"] == "受付"
        refused = client.post("/api/v1/reports", headers={"Accept-Language": "xx"}, data={
            "category": "pavement", "description": "x", **CITY_HALL})
        assert refused.status_code == 422 and "XX-pavement" in refused.json()["detail"]
        open311 = f"/open311/v2/requests/{gutter}.json"
        [named] = client.get(open311, headers={"Accept-Language": "xx"}).json()
        assert (named["service_name"], named["status_notes"], named["agency_responsible"]) \
            == ("XX-gutters", "XX-received", "XX-road-office")
        [plain] = client.get(open311).json()
        assert (plain["service_name"], plain["status_notes"]) == ("側溝・排水", "受付")

        _staff(app, staff)
        queue = staff.get("/staff?lang=xx").text
        assert "XX-gutters" in queue and "XX-received" in queue and "XX-road-office" in queue
        assert "Benches" in queue
        assert "XX-gutters" in staff.get("/staff/dashboard?lang=xx").text
        # The staff map draws the export's features with the public layer's titles.
        mapped = staff.get("/staff/export.geojson?status=all&limit=10").json()["features"]
        assert {f["properties"]["category_code"] for f in mapped} == {"gutter", "bench"}
        assert '"titles": {' in queue and '"gutter": "XX-gutters"' in queue
        report = staff.get(f"/staff/reports/{gutter}?lang=xx").text
        assert "XX-gutters" in report and "XX-road-office" in report
        csrf = re.search(r'name="csrf" value="([^"]+)"', report).group(1)
        done = staff.post(f"/staff/reports/{gutter}/actions?lang=xx", data={
            "csrf": csrf, "version": "1", "action": "fix", "body": "done"})
        assert done.status_code == 200 and "XX-fixed" in done.text
        # The exports keep the city's Japanese names, whatever the page's language.
        export = staff.get("/staff/export.csv?status=all&lang=xx").content.decode("utf-8-sig")
        assert "側溝・排水" in export and "XX-" not in export
        with app.state.reports.store.engine.connect() as conn:
            mails = conn.execute(sa.text(
                "SELECT subject, body FROM outbox WHERE to_addr = 'resident@example.org'")).all()
        assert any("XX-fixed" in m.subject and "XX-gutters" in m.body for m in mails), mails

        alerts = client.get("/wildlife/alerts?lang=xx").text
        assert ">XX-bear<" in alerts and ">Wild boar<" in alerts
        listing = client.get("/wildlife/detections?f=html&lang=xx").text
        assert ">XX-bear<" in listing
        assert ">クマ<" in client.get("/wildlife/alerts").text


def test_a_name_in_a_catalogue_takes_no_placeholders(tmp_path):
    ja = (i18n.LOCALES / "ja.yaml").read_text(encoding="utf-8")
    (tmp_path / "ja.yaml").write_text(ja + "reports:\n  category:\n    gutter: 側溝{n}\n",
                                      encoding="utf-8")
    with pytest.raises(i18n.CatalogueError, match="reports.category.gutter is a name"):
        i18n.load(tmp_path)


def test_mails_are_rendered_from_templates_in_the_reader_s_language_and_japan_time():
    from datetime import UTC, datetime

    from geoapp.mail.render import MailTexts
    from geoapp.wildlife.detections import PublicPosition

    mails = MailTexts()
    seen = datetime(2026, 12, 1, 14, 9, tzinfo=UTC)  # 23:09 in Shibata
    for lang, when, where in (("ja", "日時: 2026年12月1日 23:09", "3次メッシュ 56397236"),
                              ("en", "Time: 1 December 2026, 23:09 (Japan time)",
                               "1 km grid cell 56397236")):
        subject, body = mails.render(
            "alert_detection", lang, species={"ja": "クマ", "en": "Bear"}, count=1,
            observed_at=seen, position=PublicPosition(139.33, 37.95, "mesh", "56397236"),
            listing="https://map.example.jp/wildlife/detections", unsubscribe="https://x/u")
        assert ("クマ" if lang == "ja" else "Bear") in subject
        assert when in body and where in body and "https://x/u" in body
    subject, body = mails.render("report_update", "en", number=7, reply="<fixed> & done",
                                 status={"ja": "対応済", "en": "Fixed"}, link="L", stop="S",
                                 category={"ja": "側溝", "en": "Gutter"})
    assert subject == "[Shibata City] Report No. 7: Fixed"
    assert "Reply from the city:\n<fixed> & done\n" in body  # plain text: nothing escaped


def test_a_key_given_twice_is_refused(tmp_path):
    """YAML keeps the last of two equal keys; a catalogue must not lose a text that way."""
    (tmp_path / "ja.yaml").write_text("error: エラー\nerror:\n  email: 正しくありません\n",
                                      encoding="utf-8")
    with pytest.raises(i18n.CatalogueError, match=r"keys given twice: \['error'\]"):
        i18n.load(tmp_path)


@pytest.mark.parametrize(("labels", "message"), [
    ({"new": {"ja": "受付", "en": "Received"}}, "no text for the values ['fixed', 'progress']"),
    ({"new": {"ja": "受付"}, "progress": {"ja": "対応中", "en": "In progress"},
      "fixed": {"ja": "対応済", "en": "Fixed"}}, "labels.new.en"),
])
def test_a_layer_s_value_labels_are_checked_at_start(tmp_path, labels, message):
    import shutil

    from geoapp.catalog.loader import load_specs
    from geoapp.errors import LayerConfigError

    layers = tmp_path / "layers"
    shutil.copytree(ROOT / "layers", layers)
    path = layers / "reports.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["style"]["labels"] = labels
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(LayerConfigError) as error:
        load_specs(layers, ROOT / "data" / "geo")
    assert "reports.yaml" in error.value.detail and message in error.value.detail


def _layer_config(client: TestClient, lang: str, layer_id: str) -> dict[str, Any]:
    import json

    html = client.get(f"/?lang={lang}", headers={"Accept": "text/html"}).text
    for raw in re.findall(r"geoapp\.featureLayer\((\{.*?\})\);\n", html):
        config = json.loads(raw)
        if config["id"] == layer_id:
            return config
    raise AssertionError(f"no layer {layer_id} on the map")


def _color_labels(client: TestClient, lang: str, layer_id: str) -> dict[str, str]:
    return _layer_config(client, lang, layer_id)["colorLabels"]


def test_map_values_are_named_by_the_layer_file_and_species_by_the_vocabulary(engine_client):
    assert _color_labels(engine_client, "ja", "reports") == {
        "new": "受付", "progress": "対応中", "fixed": "対応済"}
    assert _color_labels(engine_client, "en", "reports")["progress"] == "In progress"
    # One name for "other", the vocabulary's, on the map as in the alert form.
    assert _color_labels(engine_client, "ja", "wildlife_detections")["other"] == "その他の動物"
    assert _color_labels(engine_client, "en", "wildlife_detections")["boar"] == "Wild boar"

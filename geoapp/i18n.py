"""Languages geoapp speaks (Japanese first, English available) and its interface texts."""

from __future__ import annotations

from typing import Literal

Lang = Literal["ja", "en"]
LANGS: tuple[Lang, ...] = ("ja", "en")
DEFAULT_LANG: Lang = "ja"

_TEXTS: dict[str, dict[str, str]] = {
    "site_name": {"ja": "新発田市 公開マップ", "en": "Shibata City Public Map"},
    "map_title": {"ja": "新発田市 公開マップ（避難所・Wi-Fi）", "en": "Shibata City map: shelters and Wi-Fi"},
    "map_region": {"ja": "新発田市の地図", "en": "Map of Shibata City"},
    "skip_to_lists": {"ja": "地図を飛ばして一覧へ", "en": "Skip the map to the lists"},
    "layers_heading": {"ja": "レイヤーと一覧", "en": "Layers and lists"},
    "legend_heading": {"ja": "凡例", "en": "Legend"},
    "list_view": {"ja": "一覧を表で見る", "en": "View as a table"},
    "api_view": {"ja": "データ (GeoJSON)", "en": "Data (GeoJSON)"},
    "sample_notice": {
        "ja": "ご注意: 公衆無線LAN（Wi-Fi）の情報はサンプルデータです。実在のアクセスポイントではありません。",
        "en": "Note: the public Wi-Fi information is sample data. These access points do not exist.",
    },
    "provisional": {"ja": "暫定", "en": "provisional"},
    "sample": {"ja": "サンプル", "en": "sample"},
    "wifi_yes": {"ja": "Wi-Fiあり", "en": "Wi-Fi available"},
    "wifi_no": {"ja": "Wi-Fiなし", "en": "no Wi-Fi"},
    "shelters_with_wifi": {
        "ja": "Wi-Fiのある指定避難所: {n} / {total} か所",
        "en": "Designated shelters with Wi-Fi: {n} of {total}",
    },
    "locate_me": {"ja": "現在地を表示", "en": "Show my location"},
    "zoom_in": {"ja": "拡大", "en": "Zoom in"},
    "zoom_out": {"ja": "縮小", "en": "Zoom out"},
    "other_language": {"ja": "English", "en": "日本語"},
    "credits_heading": {"ja": "出典", "en": "Credits"},
    "overlay_off": {"ja": "初期表示はオフ", "en": "off at first"},
    "loading_failed": {"ja": "レイヤーを読み込めませんでした", "en": "The layer could not be loaded"},
    "collections": {"ja": "データ一覧（コレクション）", "en": "Collections"},
    "api_home": {"ja": "API トップ", "en": "API home"},
    "conformance": {"ja": "適合クラス", "en": "Conformance classes"},
    "api_definition": {"ja": "API 定義 (OpenAPI)", "en": "API definition (OpenAPI)"},
    "features": {"ja": "地物", "en": "Features"},
    "items_summary": {
        "ja": "{matched} 件中 {first}〜{last} 件目を表示",
        "en": "Showing {first} to {last} of {matched}",
    },
    "items_none": {"ja": "該当する地物はありません。", "en": "No features match."},
    "next_page": {"ja": "次のページ", "en": "Next page"},
    "prev_page": {"ja": "前のページ", "en": "Previous page"},
    "id": {"ja": "ID", "en": "ID"},
    "coordinates": {"ja": "緯度, 経度", "en": "Latitude, longitude"},
    "licence": {"ja": "ライセンス", "en": "Licence"},
    "back_to_map": {"ja": "地図に戻る", "en": "Back to the map"},
    "show_on_map": {"ja": "地図で見る", "en": "Show on the map"},
    "yes": {"ja": "有", "en": "Yes"},
    "no": {"ja": "無", "en": "No"},
    "error": {"ja": "エラー", "en": "Error"},
    "extent": {"ja": "範囲 (経度・緯度)", "en": "Extent (longitude, latitude)"},
    "feature_count": {"ja": "地物数", "en": "Number of features"},
    "skip_to_content": {"ja": "本文へ移動", "en": "Skip to content"},
    "site_navigation": {"ja": "サイト内の移動", "en": "Site navigation"},
    "nav_map": {"ja": "地図", "en": "Map"},
    "footer_note": {
        "ja": "新発田市 公開マップ。データは各出典の利用条件に従って提供しています。",
        "en": "Shibata City public map. Data are provided under each source's terms.",
    },
    "count_suffix": {"ja": "件", "en": " features"},
    "base_map": {"ja": "背景地図", "en": "Base map"},
    "name": {"ja": "名称", "en": "Name"},
    "description": {"ja": "説明", "en": "Description"},
    "updated": {"ja": "更新日時", "en": "Last updated"},
    "pages": {"ja": "ページ送り", "en": "Pages"},
    "api_json_hint": {"ja": "機械可読の定義:", "en": "Machine-readable definition:"},
    "parameters": {"ja": "パラメーター", "en": "Parameters"},
}


def pick_lang(value: str | None) -> Lang:
    """The language asked for by a ``lang`` parameter, Japanese when absent or unknown."""
    if value and value.lower().startswith("en"):
        return "en"
    return DEFAULT_LANG


def t(key: str, lang: Lang, **fields: object) -> str:
    """An interface text in ``lang``, with ``{fields}`` filled in."""
    text = _TEXTS[key][lang]
    return text.format(**fields) if fields else text


def texts(lang: Lang) -> dict[str, str]:
    """Every interface text in ``lang``, for templates."""
    return {key: value[lang] for key, value in _TEXTS.items()}

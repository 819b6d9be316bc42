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
    "chosen_location": {"ja": "選んだ場所", "en": "Chosen location"},
    "report_location": {"ja": "通報の場所", "en": "Location of the report"},
    "report_new_title": {"ja": "道路の損傷などを通報する", "en": "Report road damage"},
    "report_new_intro": {
        "ja": "道路の穴や側溝の破損などを市に知らせてください。緊急の場合（事故・けが人）は110番・119番へ。",
        "en": "Tell the city about potholes, broken gutters and other problems. In an emergency (accident, injury) call 110 or 119.",
    },
    "nav_report": {"ja": "通報する", "en": "Report a problem"},
    "step_location": {"ja": "1. 場所", "en": "1. Location"},
    "location_help": {
        "ja": "地図をタップするか、現在地を使うか、近くの施設を選ぶか、緯度・経度を入力してください。",
        "en": "Tap the map, use your location, choose a nearby landmark, or type the latitude and longitude.",
    },
    "use_my_location": {"ja": "現在地を使う", "en": "Use my location"},
    "locating": {"ja": "現在地を取得しています…", "en": "Finding your location…"},
    "located": {"ja": "現在地を設定しました。", "en": "Your location was set."},
    "locate_failed": {"ja": "現在地を取得できませんでした。", "en": "Your location could not be found."},
    "landmark": {"ja": "近くの施設から選ぶ", "en": "Choose a nearby landmark"},
    "landmark_none": {"ja": "（選択しない）", "en": "(none)"},
    "lat": {"ja": "緯度", "en": "Latitude"},
    "lon": {"ja": "経度", "en": "Longitude"},
    "step_what": {"ja": "2. 内容", "en": "2. What is wrong"},
    "category": {"ja": "種類", "en": "Category"},
    "choose": {"ja": "選んでください", "en": "Choose one"},
    "photo_required": {"ja": "写真が必要", "en": "photo required"},
    "description_label": {"ja": "状況の説明", "en": "Description"},
    "description_help": {
        "ja": "どこで何が起きているか、大きさなどを書いてください（4000文字まで）。",
        "en": "Where it is, what is wrong, how big (up to 4000 characters).",
    },
    "photos_label": {"ja": "写真（3枚まで）", "en": "Photos (up to 3)"},
    "photos_help": {
        "ja": "近くから1枚、周りが分かるように離れて1枚撮ると伝わりやすくなります。位置情報などは削除して保存します。",
        "en": "One close-up and one wide shot help most. Location and other metadata are removed before storing.",
    },
    "step_contact": {"ja": "3. 連絡先（任意）", "en": "3. Contact (optional)"},
    "email_label": {"ja": "メールアドレス（対応状況をお知らせします）", "en": "E-mail (for updates)"},
    "name_label": {"ja": "お名前", "en": "Name"},
    "contact_private": {
        "ja": "お名前とメールアドレスは公開しません。",
        "en": "Your name and e-mail are never published.",
    },
    "submit_report": {"ja": "通報する", "en": "Send report"},
    "nearby_heading": {"ja": "近くに同じ種類の通報があります", "en": "Similar reports nearby"},
    "nearby_help": {
        "ja": "同じ問題なら、新しく通報する代わりに「私も困っています」を押してください。",
        "en": "If it is the same problem, press 'Me too' instead of sending a new report.",
    },
    "me_too": {"ja": "私も困っています", "en": "Me too"},
    "form_error": {"ja": "入力内容を確認してください", "en": "Please check the form"},
    "photos_again": {"ja": "写真はもう一度選んでください。", "en": "Please attach the photos again."},
    "receipt_title": {"ja": "通報を受け付けました", "en": "Your report was received"},
    "receipt_number": {"ja": "受付番号", "en": "Report number"},
    "receipt_keep": {
        "ja": "このページのアドレスを保存すると、対応状況をいつでも確認できます:",
        "en": "Keep this link to follow your report:",
    },
    "report_title": {"ja": "通報 No.{n}", "en": "Report No. {n}"},
    "status": {"ja": "対応状況", "en": "Status"},
    "received_at": {"ja": "受付日時", "en": "Received"},
    "updated_at": {"ja": "更新日時", "en": "Updated"},
    "supporters": {"ja": "同じ問題で困っている人", "en": "Residents affected"},
    "replies_heading": {"ja": "市からの回答", "en": "Replies from the city"},
    "no_replies": {"ja": "まだ回答はありません。", "en": "No reply yet."},
    "photos_heading": {"ja": "写真", "en": "Photos"},
    "photo_n": {"ja": "写真{n}（拡大表示）", "en": "Photo {n} (full size)"},
    "no_photos": {"ja": "写真はありません。", "en": "No photos."},
    "supported_thanks": {
        "ja": "ありがとうございます。「私も困っています」を記録しました。",
        "en": "Thank you: your 'me too' was recorded.",
    },
    "details": {"ja": "詳細", "en": "Details"},
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

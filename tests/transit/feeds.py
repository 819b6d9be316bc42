"""A small GTFS-JP version 3 feed written for the tests (a fictional Shibata loop)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.conftest import TEST_DATA

SAMPLE = TEST_DATA / "gtfs_jp_sample_mlit_rinkobus"

#: Stops near Shibata station and city hall (fictional, for the tests only).
V3_FILES: dict[str, str] = {
    "agency.txt": "agency_id,agency_name,agency_url,agency_timezone,agency_lang,agency_phone\n"
                  "8000020152064,新発田市テストバス,https://example.invalid/,Asia/Tokyo,ja,0254-00-0000\n",
    "agency_jp.txt": "agency_id,agency_official_name,agency_zip_number,agency_address\n"
                     "8000020152064,新発田市（テスト）,957-8686,新潟県新発田市中央町3-3-3\n",
    "office_jp.txt": "office_id,office_name,office_url,office_phone\nO1,テスト営業所,,\n",
    "feed_info.txt": "feed_publisher_name,feed_publisher_url,feed_lang,feed_start_date,"
                     "feed_end_date,feed_version\n"
                     "新発田市（テスト）,https://example.invalid/,ja,20260101,20271231,test-3\n",
    "stops.txt": "stop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
                 "S1,新発田駅前,37.9503,139.3353,0,\n"
                 "S2,市役所前,37.9477,139.3275,0,\n"
                 "S3,西公園,37.9452,139.3196,0,\n",
    "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type,route_color,"
                  "route_text_color,jp_parent_route_id\n"
                  "R1,8000020152064,1,市街地循環,3,00A0E9,FFFFFF,\n",
    "pattern_jp.txt": "jp_pattern_id,route_update_date,origin_stop,via_stop,destination_stop\n"
                      "P1,20260101,新発田駅前,市役所前,西公園\n",
    "trips.txt": "route_id,service_id,trip_id,trip_headsign,direction_id,shape_id,jp_office_id,"
                 "jp_pattern_id\n"
                 "R1,平日,T1,西公園,0,SH1,O1,P1\n"
                 "R1,平日,T2,西公園,0,SH1,O1,P1\n"
                 "R1,土日祝,T3,西公園,0,SH1,O1,P1\n"
                 "R1,毎日,T4,西公園,0,,O1,P1\n",
    "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,pickup_type\n"
                      "T1,8:00:00,8:00:00,S1,1,0\nT1,8:05:00,8:05:00,S2,2,0\n"
                      "T1,8:10:00,8:10:00,S3,3,0\n"
                      "T2,17:30:00,17:30:00,S1,1,0\nT2,17:35:00,17:35:00,S2,2,0\n"
                      "T2,17:40:00,17:40:00,S3,3,0\n"
                      "T3,10:00:00,10:00:00,S1,1,0\nT3,10:05:00,10:05:00,S2,2,0\n"
                      "T3,10:10:00,10:10:00,S3,3,0\n"
                      "T4,23:59:00,23:59:00,S1,1,0\nT4,24:04:00,24:04:00,S2,2,0\n"
                      "T4,24:09:00,24:09:00,S3,3,0\n",
    "calendar.txt": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,sunday,"
                    "start_date,end_date\n"
                    "平日,1,1,1,1,1,0,0,20260101,20271231\n"
                    "土日祝,0,0,0,0,0,1,1,20260101,20271231\n"
                    "毎日,1,1,1,1,1,1,1,20000101,20991231\n",
    # 2026-11-23 (Monday) is 勤労感謝の日: the weekday service is off, the holiday one runs.
    "calendar_dates.txt": "service_id,date,exception_type\n"
                          "平日,20261123,2\n土日祝,20261123,1\n",
    "shapes.txt": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
                  "SH1,37.9503,139.3353,1\nSH1,37.9490,139.3310,2\nSH1,37.9477,139.3275,3\n"
                  "SH1,37.9452,139.3196,4\n",
    "translations.txt": "table_name,field_name,language,translation,record_id,record_sub_id,"
                        "field_value\n"
                        "stops,stop_name,ja-Hrkt,しばたえきまえ,,,新発田駅前\n"
                        "stops,stop_name,en,Shibata Station,,,新発田駅前\n"
                        "routes,route_long_name,en,Town Loop,,,市街地循環\n"
                        "trips,trip_headsign,en,Nishi Park,,,西公園\n",
}


def write_feed(folder: Path, changes: dict[str, str | None] | None = None,
               as_zip: bool = False) -> Path:
    """The v3 feed with ``changes`` (None removes a file), as a folder or a zip."""
    files = {**V3_FILES, **(changes or {})}
    folder.mkdir(parents=True, exist_ok=True)
    if as_zip:
        path = folder / "feed.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in files.items():
                if text is not None:
                    archive.writestr(f"gtfs/{name}", text.encode())
        return path
    for name, text in files.items():
        if text is not None:
            (folder / name).write_text(text, encoding="utf-8")
    return folder

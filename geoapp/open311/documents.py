"""Open311 GeoReport v2 documents, as plain data, and their XML form.

The spec's rules clients trip over live here: IDs as strings, real booleans, times with
+09:00, single results as one-element lists, and the standard error body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from geoapp.i18n import DEFAULT_LANG, Lang
from geoapp.japantime import JST
from geoapp.store.records import Category, Department, Report, Status

JURISDICTION = "city.shibata.lg.jp"


def time(value: datetime | None) -> str | None:
    """A time as the spec wants it: ISO 8601 with the zone (+09:00)."""
    return value.astimezone(JST).isoformat(timespec="seconds") if value else None


def service(category: Category, department: Department, lang: Lang) -> dict[str, Any]:
    """A category as an Open311 service."""
    return {
        "service_code": category.code,
        "service_name": category.name(lang),
        "description": f"{category.name_ja} / {category.name_en}",
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": ", ".join([category.code, category.name_ja, category.name_en]),
        "group": department.name(lang),
    }


def definition(category: Category, lang: str) -> dict[str, Any]:
    """A service definition: the category's extra attributes."""
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": attribute["code"],
                "datatype": attribute.get("datatype", "string"),
                "required": bool(attribute.get("required", False)),
                "datatype_description": attribute.get(f"label_{lang}", ""),
                "order": order,
                "description": attribute.get(f"label_{lang}", ""),
                "values": [],
            }
            for order, attribute in enumerate(category.attributes, start=1)
        ],
    }


def request(report: Report, category: Category, status: Status, department: Department,
            media_url: str | None, lang: Lang = DEFAULT_LANG) -> dict[str, Any]:
    """A report as an Open311 service request (public fields only), named in ``lang``."""
    return {
        "service_request_id": str(report.id),
        "status": "open" if status.is_open else "closed",
        "status_notes": status.name(lang),  # the finer state (受付, 対応中, 対応済…)
        "service_name": category.name(lang),
        "service_code": category.code,
        "description": report.description,
        "agency_responsible": department.name(lang),
        "service_notice": "",
        "requested_datetime": time(report.created_at),
        "updated_datetime": time(report.updated_at),
        "expected_datetime": None,
        "address": "",
        "address_id": "",
        "zipcode": "",
        "lat": report.lat,
        "long": report.lon,
        "media_url": media_url or "",
    }


def error(code: int, description: str) -> list[dict[str, Any]]:
    """The standard error body."""
    return [{"code": code, "description": description}]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(parent: ET.Element, data: Mapping[str, Any], item_names: Mapping[str, str]) -> None:
    for key, value in data.items():
        child = ET.SubElement(parent, key)
        if isinstance(value, Mapping):
            _fill(child, value, item_names)
        elif isinstance(value, list):
            for item in value:
                element = ET.SubElement(child, item_names.get(key, "item"))
                if isinstance(item, Mapping):
                    _fill(element, item, item_names)
                else:
                    element.text = _text(item)
        else:
            child.text = _text(value)


def to_xml(root: str, item: str, rows: Iterable[Mapping[str, Any]] | Mapping[str, Any],
           item_names: Mapping[str, str] | None = None) -> bytes:
    """An Open311 XML document: ``<root><item>…</item>…</root>`` (or one mapping as root)."""
    names = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
             "formats": "format", **(item_names or {})}
    top = ET.Element(root)
    if isinstance(rows, Mapping):
        _fill(top, rows, names)
    else:
        for row in rows:
            _fill(ET.SubElement(top, item), row, names)
    return (b'<?xml version="1.0" encoding="utf-8"?>'
            + ET.tostring(top, encoding="unicode").encode("utf-8"))

"""What a person reads of a feature: the properties its layer declares as shown, written
in one language (the popup, the feature page and the list view all read these)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from geoapp.catalog.spec import LayerSpec, ShownProperty
from geoapp.i18n import Lang, in_lang, t
from geoapp.japantime import format_time


@dataclass(frozen=True)
class ShownValue:
    """One line a person reads: its label, its text, and where it links (a ``link``)."""

    key: str
    label: str
    text: str
    href: str | None = None


def safe_href(value: object) -> str | None:
    """A link target from the data: a same-origin path or a web address, else None (never a
    ``javascript:`` or ``data:`` URL; geoapp-map.js's safeUrl applies the same rule)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if any(c.isspace() for c in url):
        return None
    if url.lower().startswith(("https://", "http://")) and len(url) > len("https://"):
        return url
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return None


def label_of(spec: LayerSpec, shown: ShownProperty, lang: Lang) -> str:
    """The shown property's label in ``lang``: its own, else the property's."""
    return (shown.label or spec.prop(shown.key).label)(lang)


def raw_value(shown: ShownProperty, props: Mapping[str, Any], lang: Lang) -> Any:
    """The property's value in ``lang``: its ``langs`` copy for that language, else as
    geoapp.i18n.in_lang falls back (English, then the property itself)."""
    if not shown.langs:
        return props.get(shown.key)
    own = {"ja": props.get(shown.key), **{k: props.get(v) for k, v in shown.langs.items()}}
    return in_lang(lang, {k: v for k, v in own.items() if v not in (None, "")})


def format_value(shown: ShownProperty, value: Any, lang: Lang,
                 names: Mapping[str, str] | None = None) -> str:
    """``value`` written as ``shown.format`` says, in ``lang``; "" for nothing to show."""
    if value is None or value == "":
        return ""
    if shown.format == "yesno":
        return t("answer_yes" if value else "answer_no", lang)
    if shown.format == "datetime":
        try:
            return format_time(datetime.fromisoformat(str(value)), lang)
        except ValueError:
            return str(value)
    if shown.format == "number" and isinstance(value, int | float) \
            and not isinstance(value, bool):
        return f"{value:,}"
    if shown.format == "name":
        return (names or {}).get(str(value)) or str(value)
    if shown.format == "near":
        return t("place_near", lang, place=str(value))
    return str(value)


def shown_values(spec: LayerSpec, props: Mapping[str, Any], lang: Lang,
                 names: Mapping[str, Mapping[str, str]] | None = None,
                 *, skip: tuple[str | None, ...] = ()) -> list[ShownValue]:
    """The lines a person reads of a feature with ``props``, in the declared order; empty
    values left out. ``names`` holds, by property key, the names of the codes a ``name``
    property holds (in ``lang``)."""
    lines = []
    for shown in spec.shown:
        if shown.key in skip:
            continue
        value = raw_value(shown, props, lang)
        label = label_of(spec, shown, lang)
        if shown.format == "link":
            href = safe_href(value)
            if href is not None and href.startswith("/") and lang != "ja" \
                    and "lang=" not in href:
                # geoapp's own pages, in the reader's language (as the map's links are).
                href += ("&" if "?" in href else "?") + urlencode({"lang": lang})
            if href is not None:
                lines.append(ShownValue(shown.key, label, label, href))
            continue
        text = format_value(shown, value, lang, (names or {}).get(shown.key))
        if text:
            lines.append(ShownValue(shown.key, label, text))
    return lines

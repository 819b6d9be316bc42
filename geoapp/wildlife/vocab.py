"""The fixed vocabularies of wildlife data: species, device kinds, statuses, visibilities."""

from __future__ import annotations

from geoapp.errors import InvalidInput
from geoapp.i18n import Lang, data_name, data_names


class Vocabulary(dict[str, tuple[str, str]]):
    """Codes with their Japanese and English names; a catalogue may name them in any
    language under ``<family>.<code>`` (e.g. ``wildlife.species.bear``)."""

    def __init__(self, family: str, entries: dict[str, tuple[str, str]]) -> None:
        super().__init__(entries)
        self.family = family


#: Species codes with their Japanese and English names.
SPECIES = Vocabulary("wildlife.species", {
    "bear": ("クマ", "Bear"),
    "boar": ("イノシシ", "Wild boar"),
    "monkey": ("サル", "Monkey"),
    "deer": ("ニホンジカ", "Sika deer"),
    "other": ("その他の動物", "Other animal"),
})
#: Names devices and prefectures use for a species, mapped to its code.
SPECIES_ALIASES: dict[str, str] = {
    "クマ": "bear", "くま": "bear", "熊": "bear", "ツキノワグマ": "bear",
    "イノシシ": "boar", "いのしし": "boar", "猪": "boar", "wild_boar": "boar",
    "サル": "monkey", "さる": "monkey", "猿": "monkey", "ニホンザル": "monkey",
    "シカ": "deer", "しか": "deer", "鹿": "deer", "ニホンジカ": "deer", "sika_deer": "deer",
    "その他": "other",
}
KINDS = Vocabulary("wildlife.kind", {
    "sensor": ("動物センサー（サイレン・ライト）", "Animal sensor (siren and light)"),
    "ir_camera": ("赤外線カメラ", "Infrared camera"),
    "ai_camera": ("AIカメラ", "AI camera"),
    "trap": ("わな発信機", "Trap transmitter"),
    "other": ("その他の機器", "Other device"),
})
STATUSES = Vocabulary("wildlife.status", {
    "active": ("稼働中", "Active"),
    "maintenance": ("保守中", "Under maintenance"),
    "retired": ("廃止", "Retired"),
})
#: How the public may see a device and its detections.
VISIBILITIES = Vocabulary("wildlife.visibility", {
    "exact": ("正確な位置で公開", "Exact position"),
    "mesh": ("1kmメッシュ（3次メッシュ）で公開", "1 km grid cell (3rd-order mesh)"),
    "hidden": ("公開しない", "Not shown"),
})
EVENTS = ("detection", "triggered")


def names(table: Vocabulary, code: str) -> dict[str, str]:
    """A code's names in every language spoken, for texts rendered later in a reader's."""
    ja, en = table[code]
    return data_names(table.family, code, {"ja": ja, "en": en})


def label(table: Vocabulary, code: str, lang: Lang) -> str:
    """A code's name in ``lang`` (geoapp.i18n.data_name: the catalogue's, else the table's)."""
    ja, en = table[code]
    return data_name(table.family, code, lang, {"ja": ja, "en": en})


def species_code(text: object, field: str = "species") -> str:
    """A species code from a code or a common Japanese name; InvalidInput if unknown."""
    raw = str(text or "").strip()
    code = raw.lower() if raw.lower() in SPECIES else SPECIES_ALIASES.get(raw)
    if code is None:
        raise InvalidInput(field, key="error.vocab.species", name=raw,
                           codes=", ".join(SPECIES))
    return code


def choice(table: Vocabulary, text: object, field: str) -> str:
    """A code that must be one of ``table``'s; InvalidInput otherwise."""
    code = str(text or "").strip()
    if code not in table:
        raise InvalidInput(field, key="error.vocab.choice", name=field,
                           codes=", ".join(table))
    return code

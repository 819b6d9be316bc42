"""Languages geoapp speaks and its texts: one catalogue file per language in ``locales/``.

Each ``geoapp/locales/<lang>.yaml`` holds every interface text, error message and mail
text of one language under the same keys (nested mappings name keys with dots, e.g.
``error.photo.not_an_image``). Adding a language means adding a file: the languages are
whatever files are there. Everything is read and checked once, at import.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

#: A language code with a catalogue in ``LOCALES`` (``ja``, ``en``...).
Lang = str
LOCALES = Path(__file__).parent / "locales"
DEFAULT_LANG: Lang = "ja"
#: Families of catalogue keys (``<family>.<code>``) naming things kept as data: report
#: categories, states and departments (named in Japanese and English in the store) and the
#: wildlife vocabularies. They are optional in every catalogue, as the data already names
#: them in ``ja`` and ``en`` (and a category an admin adds at run time is in no catalogue);
#: a third language's catalogue names them in that language.
DATA_NAMES = ("reports.category", "reports.status", "reports.department",
              "wildlife.species", "wildlife.kind", "wildlife.status", "wildlife.visibility")


class CatalogueError(ValueError):
    """The catalogues disagree: a key missing in one language, or placeholders that differ."""


class _UniqueKeys(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice (YAML would keep the last one silently)."""


def _unique_mapping(loader: _UniqueKeys, node: yaml.MappingNode) -> dict[object, object]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise CatalogueError(f"{node.start_mark.name}: keys given twice: {twice}")
    return loader.construct_mapping(node)


_UniqueKeys.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _read(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeys)  # noqa: S506
    return data or {}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = "" if value is None else str(value)
    return flat


def _fields(text: str) -> set[str]:
    return {name.split(".")[0].split("[")[0]
            for _, name, _, _ in string.Formatter().parse(text) if name}


def load(directory: Path) -> dict[Lang, dict[str, str]]:
    """Every catalogue in ``directory``, checked: same keys and same placeholders in each."""
    reference_path = directory / f"{DEFAULT_LANG}.yaml"
    if not reference_path.exists():
        raise CatalogueError(f"no {DEFAULT_LANG}.yaml in {directory}")
    return load_with(directory, _flatten(_read(reference_path)))


def _data_name(key: str) -> bool:
    """Whether ``key`` names a thing kept as data (optional in every catalogue)."""
    return any(key.startswith(f"{family}.") for family in DATA_NAMES)


def load_with(directory: Path, reference: dict[str, str]) -> dict[Lang, dict[str, str]]:
    """The catalogues in ``directory``, each checked against the ``reference`` catalogue."""
    found = {path.stem: _flatten(_read(path))
             for path in sorted(directory.glob("*.yaml"))}
    for lang, catalogue in found.items():
        missing = sorted(k for k in reference.keys() - catalogue.keys() if not _data_name(k))
        extra = sorted(k for k in catalogue.keys() - reference.keys() if not _data_name(k))
        if missing or extra:
            raise CatalogueError(f"{lang}.yaml: missing {missing}, not in "
                                 f"{DEFAULT_LANG}.yaml {extra}")
        # A translation may reorder placeholders but not invent or drop one; a name is
        # shown as it is and has none.
        for key, text in catalogue.items():
            if _data_name(key):
                if _fields(text):
                    raise CatalogueError(f"{lang}.yaml: {key} is a name and takes no "
                                         f"placeholders, not {_fields(text)}")
                continue
            if _fields(text) != _fields(reference[key]):
                raise CatalogueError(f"{lang}.yaml: {key} has placeholders {_fields(text)}, "
                                     f"{DEFAULT_LANG}.yaml {_fields(reference[key])}")
    return found


_CATALOGUES = load(LOCALES)


def languages() -> tuple[Lang, ...]:
    """The languages geoapp speaks: Japanese first, then the others by code."""
    return (DEFAULT_LANG, *sorted(set(_CATALOGUES) - {DEFAULT_LANG}))


def add_catalogues(directory: Path) -> tuple[Lang, ...]:
    """Add the catalogues of ``directory`` (checked like the package's); their languages."""
    found = load_with(directory, _CATALOGUES[DEFAULT_LANG])
    _CATALOGUES.update(found)
    _languages_changed()
    return tuple(found)


def drop_catalogue(lang: Lang) -> None:
    """Stop speaking ``lang`` (never the default language)."""
    if lang != DEFAULT_LANG:
        _CATALOGUES.pop(lang, None)
        _languages_changed()


def _languages_changed() -> None:
    texts.cache_clear()


def pick_lang(value: str | None) -> Lang:
    """The language a tag asks for (``en``, ``en-GB``), Japanese when absent or unknown."""
    primary = (value or "").strip().lower().split("-")[0].split("_")[0]
    return primary if primary in _CATALOGUES else DEFAULT_LANG


def t(key: str, lang: Lang, **fields: object) -> str:
    """The text ``key`` in ``lang``, with ``{fields}`` filled in.

    A field may itself be in several languages (``{"ja": "側溝", "en": "Gutter"}``, names
    kept as data): the one in ``lang`` is used, else English, else Japanese.
    """
    text = _CATALOGUES.get(lang, _CATALOGUES[DEFAULT_LANG])[key]
    if not fields:
        return text
    return text.format(**{name: in_lang(lang, value) for name, value in fields.items()})


def in_lang(lang: Lang, value: object) -> object:
    """``value`` in ``lang`` if it is a mapping of languages (else English, else Japanese)."""
    if isinstance(value, list | tuple):
        return [in_lang(lang, item) for item in value]
    if not isinstance(value, dict):
        return value
    return value.get(lang) or value.get("en") or value.get(DEFAULT_LANG, "")


def data_name(family: str, code: str, lang: Lang, own: Mapping[Lang, str]) -> str:
    """What the thing ``code`` of ``family`` (one of DATA_NAMES) is called in ``lang``.

    The one place such names are chosen: the catalogue's ``<family>.<code>`` when the
    language's catalogue has it, else the data's own name in ``lang`` (``own``, e.g. a
    category's name_ja and name_en columns), else English, else Japanese, as for every
    name kept as data (``in_lang``). So a category an admin added at run time still shows.
    """
    named = _CATALOGUES.get(lang, {}).get(f"{family}.{code}")
    return named if named else str(in_lang(lang, dict(own)))


def data_names(family: str, code: str, own: Mapping[Lang, str]) -> dict[Lang, str]:
    """The names of ``code`` in every language spoken, for texts rendered later in a reader's
    language (mails, error messages) and for JSON keyed by language."""
    return {lang: data_name(family, code, lang, own) for lang in languages()}


@cache
def texts(lang: Lang) -> dict[str, str]:
    """Every text in ``lang``, for templates (``T.key``, ``T["map.cluster"]``)."""
    return dict(_CATALOGUES.get(lang, _CATALOGUES[DEFAULT_LANG]))

"""Checking text a client sends before it is stored: no NUL or other control characters.

PostgreSQL refuses NUL in text (SQLite stores it), and control characters have no place in
a report, a reply or an address: both engines refuse them the same way, with 422.
"""

from __future__ import annotations

import re

from geoapp.errors import InvalidInput

#: C0 and C1 controls, DEL and lone surrogates (which no encoding can store).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: The same with tab, CR and LF, for text that is one line.
_CONTROL_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """The first control character in ``value`` as ``U+XXXX``, or None if there is none."""
    found = (_CONTROL if multiline else _CONTROL_ONE_LINE).search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def check_text(field: str, value: str | None, *, multiline: bool = False) -> str | None:
    """``value`` unchanged; InvalidInput naming ``field`` if it holds a control character.

    Tab, CR and LF are allowed only in ``multiline`` text (a description, a reply).
    """
    code = control_character(value, multiline=multiline) if value is not None else None
    if code is not None:
        raise InvalidInput(field, key="error.control_character", name=field, code=code)
    return value


def check_texts(values: dict[str, str | None], *, multiline: frozenset[str] = frozenset()
                ) -> None:
    """Check several fields at once; names in ``multiline`` may hold tab, CR and LF."""
    for field, value in values.items():
        check_text(field, value, multiline=field in multiline)

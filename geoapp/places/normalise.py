"""What people type, made comparable: one form for widths, kana, 丁目 numbers and spaces."""

from __future__ import annotations

import re
import unicodedata

#: Leading prefixes a resident may type before a place in the city; dropped from a variant.
_CITY_PREFIXES = ("新潟県", "新発田市")
_DIGITS = "〇一二三四五六七八九"
_CHOME = re.compile(r"(\d+)丁目")
_SPACE = re.compile(r"\s+")


def _kanji_number(n: int) -> str:
    """1..99 in kanji as addresses write them (一, 十, 十一, 二十三); others unchanged."""
    if not 1 <= n <= 99:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def _hiragana(text: str) -> str:
    # Katakana ァ..ヶ sit 0x60 above their hiragana; ー and ヽヾ have no such twin and stay.
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def normalise(text: str) -> str:
    """One comparable form: NFKC (full/half width), katakana as hiragana, 「1丁目」 as
    「一丁目」, no spaces, Latin letters in lower case."""
    text = unicodedata.normalize("NFKC", text)
    text = _SPACE.sub("", text)
    text = _CHOME.sub(lambda m: _kanji_number(int(m.group(1))) + "丁目", text)
    return _hiragana(text).casefold()


def variants(text: str) -> tuple[str, ...]:
    """``normalise(text)``, and again without a leading 新潟県 and 新発田市 when it had one
    (「新発田市大手町」 is 大手町, but 「新発田市民文化会館」 must still match its own name)."""
    whole = normalise(text)
    rest = whole
    for prefix in _CITY_PREFIXES:
        rest = rest.removeprefix(prefix)
    return (whole, rest) if rest and rest != whole else (whole,)

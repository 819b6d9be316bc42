"""Keyset cursors: the opaque token a ``next`` link carries to say where its page starts.

A token encodes the last feature's (sort key, id) of the page before, so the next page is
``WHERE (key, id) > (that)`` on the index: page 10,000 costs what page 1 does, and reports
arriving between pages neither repeat nor shift any feature.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from geoapp.errors import InvalidParameter


def encode(key: Any, feature_id: int | str) -> str:
    """The token of a page that starts after (key, feature_id)."""
    raw = orjson.dumps([key, feature_id])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(token: str) -> tuple[Any, int | str]:
    """(key, id) from a token; InvalidParameter for anything this service did not give out."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        key, feature_id = orjson.loads(raw)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        key = feature_id = None
    if not isinstance(feature_id, int | str) or isinstance(feature_id, bool):
        raise InvalidParameter("cursor", "not a page cursor of this collection; start from "
                                         "the first page and follow its next link")
    return key, feature_id

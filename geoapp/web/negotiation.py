"""Choosing between JSON and HTML answers (the ``f`` parameter first, then ``Accept``)."""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request

from geoapp.errors import InvalidParameter

Format = Literal["json", "html"]
_F_VALUES: dict[str, Format] = {"json": "json", "geojson": "json", "html": "html"}


def choose_format(request: Request, default: Format = "json") -> Format:
    """The answer format a request asks for."""
    f = request.query_params.get("f")
    if f:
        try:
            return _F_VALUES[f.lower()]
        except KeyError:
            raise InvalidParameter("f", f"{f!r} is not one of json, html") from None
    accept = request.headers.get("accept", "")
    if not accept or accept.startswith("*/*"):
        return default
    html_at = accept.find("text/html")
    json_at = min((i for i in (accept.find("json"),) if i >= 0), default=-1)
    if html_at >= 0 and (json_at < 0 or html_at < json_at):
        return "html"
    if json_at >= 0:
        return "json"
    return default

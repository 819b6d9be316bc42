"""Jinja templates (autoescaped), with the language and URL helpers every page needs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from geoapp.i18n import pick_lang, texts
from geoapp.web.security import nonce

JST = timezone(timedelta(hours=9))


def _page_context(request: Request) -> dict[str, Any]:
    lang = pick_lang(request.query_params.get("lang"))
    other = "en" if lang == "ja" else "ja"
    root = request.app.state.settings.base_url

    def u(path: str, **params: object) -> str:
        """A link inside geoapp that keeps the page's language."""
        query = {k: str(v) for k, v in params.items() if v is not None}
        if lang != "ja":
            query["lang"] = lang
        return f"{root}{path}" + (f"?{urlencode(query)}" if query else "")

    switch = dict(request.query_params)
    if other == "ja":
        switch.pop("lang", None)
    else:
        switch["lang"] = other
    other_url = request.url.path + (f"?{urlencode(switch)}" if switch else "")
    return {
        "lang": lang,
        "T": texts(lang),
        "u": u,
        "other_lang": other,
        "other_lang_url": f"{root}{other_url}",
        "assets": request.app.state.assets,
        "csp_nonce": nonce(request),
    }


def _jst(value: datetime | None) -> str:
    """A moment as Japan time, e.g. 2026-11-25 14:05."""
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M") if value else ""


def make_templates(directory: Path) -> Jinja2Templates:
    """Templates from ``directory`` with autoescape on and the page context added."""
    templates = Jinja2Templates(directory=str(directory), context_processors=[_page_context])
    templates.env.autoescape = True
    templates.env.filters["jst"] = _jst
    return templates

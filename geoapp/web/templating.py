"""Jinja templates (autoescaped), with the language and URL helpers every page needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates
from starlette.requests import Request

from geoapp.i18n import DEFAULT_LANG, languages, t, texts
from geoapp.japantime import format_time
from geoapp.web.intake import answer_lang
from geoapp.web.security import nonce
from geoapp.wildlife.vocab import label


def _page_context(request: Request) -> dict[str, Any]:
    lang = answer_lang(request, page=True)
    # The switch offers the next language along, so a third catalogue joins the cycle.
    spoken = languages()
    other = spoken[(spoken.index(lang) + 1) % len(spoken)]
    root = request.app.state.settings.base_url

    def u(path: str, **params: object) -> str:
        """A link inside geoapp that keeps the page's language."""
        query = {k: str(v) for k, v in params.items() if v is not None}
        if lang != DEFAULT_LANG:
            query["lang"] = lang
        return f"{root}{path}" + (f"?{urlencode(query)}" if query else "")

    switch = dict(request.query_params)
    if other == DEFAULT_LANG:
        switch.pop("lang", None)
    else:
        switch["lang"] = other
    other_url = request.url.path + (f"?{urlencode(switch)}" if switch else "")
    return {
        "lang": lang,
        "T": texts(lang),
        "u": u,
        "other_lang": other,
        "other_lang_name": t("language_name", other),
        "other_lang_url": f"{root}{other_url}",
        "assets": request.app.state.assets,
        "csp_nonce": nonce(request),
        # vocab(table, code): a wildlife vocabulary's name for a code in the page's language
        # (the catalogue's when it names it; geoapp.i18n.data_name).
        "vocab": lambda table, code: label(table, code, lang),
        # when(moment): a time as a person reads it, in Japan time and the page's language.
        "when": lambda moment: format_time(moment, lang),
    }


def make_templates(directory: Path) -> Jinja2Templates:
    """Templates from ``directory`` with autoescape on and the page context added."""
    templates = Jinja2Templates(directory=str(directory), context_processors=[_page_context])
    templates.env.autoescape = True
    return templates

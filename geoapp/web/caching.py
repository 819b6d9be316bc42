"""ETags, 304 and Cache-Control for layer data, so repeat views cost almost nothing.

Wrap a GET handler of layer data (collections, items, features, tiles, downloads) in
``@cacheable(selector)``: the ETag is computed from the layers' data versions and the
request before the handler runs, a matching ``If-None-Match`` is answered 304 without
running it, and a 200 gets the ETag and the layers' ``Cache-Control`` (``cache:`` in their
layer files). The ETag is weak: the GZip layer may compress the same answer differently.

Do not wrap a page with a nonced inline script (the map page): a 304 brings a fresh CSP
nonce that the cached page's script would not carry.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from geoapp import __version__
from geoapp.catalog.registry import Catalog, Layer
from geoapp.settings import Settings
from geoapp.web.context import base_url
from geoapp.web.negotiation import choose_format

#: Chooses the layers an answer is made of from the handler's arguments; None: not
#: cacheable this time (the handler then answers, usually with a 404).
Selector = Callable[[Catalog, Mapping[str, Any]], Sequence[Layer] | None]


def collection(param: str) -> Selector:
    """The one collection named by the handler's parameter ``param``."""
    return lambda catalog, args: [catalog.collection(args[param])]


def every_collection(catalog: Catalog, _args: Mapping[str, Any]) -> Sequence[Layer]:
    """Every public collection (the collections list)."""
    return catalog.collections()


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class LayerValidators:
    """What one app's layer ETags are made of besides the data: fixed at start-up.

    The declaration of each layer (titles, credit, properties) and the settings that shape
    answers are hashed once; geoapp's version too, as a new release may write answers
    differently. None of it depends on the process, so every worker gives the same ETag.
    """

    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        salt = _digest(__version__, settings.base_url, str(settings.items_default_limit),
                       str(settings.items_max_limit))
        self._static = {
            layer.id: _digest(salt, layer.spec.model_dump_json(), layer.updated,
                              str(layer.sample))
            for layer in catalog
        }

    def etag(self, request: Request, layers: Sequence[Layer], *, negotiated: bool) -> str:
        """The weak ETag of this request's answer, from the layers' current data versions.

        Read before the answer is built: a write landing in between then makes the ETag
        older than the body, never newer, so the next revalidation fetches it again.
        """
        parts = [f"{self._static[layer.id]}:{layer.source.version()}"
                 for layer in layers if layer.source is not None]
        fmt = choose_format(request) if negotiated else ""
        # Links in the answer are absolute, from the request's own host when no base URL
        # is set; the query string carries lang, filters and paging.
        return 'W/"' + _digest(*parts, base_url(request), request.url.path,
                               request.url.query, fmt) + '"'


def cache_control(layers: Sequence[Layer]) -> str:
    """The header for an answer made of ``layers``: the most cautious of their policies."""
    policies = [layer.spec.cache for layer in layers]
    if not policies or any(p.no_cache for p in policies):
        return "public, no-cache"
    return f"public, max-age={min(p.max_age or 0 for p in policies)}"


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names ``etag`` (weak comparison, as RFC 9110 asks)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def _headers(etag: str, layers: Sequence[Layer], negotiated: bool) -> dict[str, str]:
    headers = {"ETag": etag, "Cache-Control": cache_control(layers)}
    if negotiated:  # without ?f=, Accept chooses between JSON and the HTML view
        headers["Vary"] = "Accept"
    return headers


def _prepare(select: Selector, negotiated: bool, args: Mapping[str, Any]
             ) -> tuple[dict[str, str] | None, Response | None]:
    """The headers to add to a 200, and the 304 to answer instead when the client is current."""
    request: Request = args["request"]
    catalog: Catalog = request.app.state.catalog
    layers = select(catalog, args)
    if layers is None:
        return None, None
    etag = request.app.state.layer_validators.etag(request, layers, negotiated=negotiated)
    headers = _headers(etag, layers, negotiated)
    if matches(request.headers.get("if-none-match"), etag):
        # The GZip layer adds Accept-Encoding to a compressed 200's Vary but never sees a
        # 304's body; caches replace the stored headers with these, so name it here.
        vary = f"{headers['Vary']}, Accept-Encoding" if negotiated else "Accept-Encoding"
        return headers, Response(status_code=304, headers={**headers, "Vary": vary})
    return headers, None


def _finish(response: Response, headers: dict[str, str] | None) -> Response:
    if headers is not None and response.status_code == 200:
        for name, value in headers.items():
            if name == "Vary" and "vary" in response.headers:
                response.headers["Vary"] = f"{response.headers['vary']}, {value}"
            else:
                response.headers[name] = value
    return response


def cacheable(select: Selector, *, negotiated: bool = True
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a GET handler of layer data (it must take ``request: Request``).

    ``negotiated``: the answer's format depends on ``Accept`` (JSON or HTML), so the format
    is part of the ETag and ``Vary: Accept`` is sent; False for fixed formats (downloads).
    """

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        names = list(inspect.signature(handler).parameters)

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            return {**dict(zip(names, args, strict=False)), **kwargs}

        if inspect.iscoroutinefunction(handler):
            @functools.wraps(handler)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                # The version is read from the store: not on the event loop.
                headers, not_modified = await run_in_threadpool(
                    _prepare, select, negotiated, arguments(args, kwargs))
                if not_modified is not None:
                    return not_modified
                return _finish(await handler(*args, **kwargs), headers)
            return async_wrapper

        @functools.wraps(handler)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            headers, not_modified = _prepare(select, negotiated, arguments(args, kwargs))
            if not_modified is not None:
                return not_modified
            return _finish(handler(*args, **kwargs), headers)
        return wrapper

    return decorate

"""The one error hierarchy of geoapp and the one table that maps it to HTTP statuses.

Domain code raises these with a catalogue key and its values (``key="error.email"``), or
with a plain English message; only ``geoapp.web.problems`` turns them into responses, in
the language of the answer (``message(lang)``).
"""

from __future__ import annotations

from typing import Any

from geoapp.i18n import Lang, t


class GeoappError(Exception):
    """Base of every error geoapp reports to a client."""

    title = "Error"

    def __init__(self, detail: str | None = None, *, key: str | None = None,
                 detail_ja: str | None = None, **values: Any) -> None:
        if detail is None:
            if key is None:
                raise TypeError("an error needs a detail or a catalogue key")
            detail = t(key, "en", **values)
        super().__init__(detail)
        self.detail = detail  # English: logs, and callers that predate the catalogue
        self.key = key
        self.values = values
        self._detail_ja = detail_ja  # a Japanese message given as text (older raise sites)

    def message(self, lang: Lang) -> str:
        """The message in ``lang``: from the catalogue when raised with a key."""
        if self.key is not None:
            return t(self.key, lang, **self.values)
        if lang == "ja" and self._detail_ja is not None:
            return self._detail_ja
        return self.detail

    @property
    def detail_ja(self) -> str:
        """The message in Japanese."""
        return self.message("ja")

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle by state: errors cross processes (photo workers raise PhotoRejected), and
        Exception's default would call a subclass's own ``__init__`` with the wrong arguments."""
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[GeoappError], args: tuple[object, ...],
             state: dict[str, object]) -> GeoappError:
    """An unpickled error: its class, message and attributes, without calling ``__init__``."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidParameter(GeoappError):
    """A query parameter or field is malformed or out of range."""

    title = "Invalid parameter"

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(f"{parameter}: {detail}")
        self.parameter = parameter


class NotFound(GeoappError):
    """The collection, feature or page asked for does not exist."""

    title = "Not found"


class NotAcceptable(GeoappError):
    """The client asked for a format geoapp cannot produce."""

    title = "Not acceptable"


class LayerConfigError(GeoappError):
    """A layer declaration is invalid; raised at start-up and by `geoapp layers validate`."""

    title = "Invalid layer declaration"


class ImportRejected(GeoappError):
    """An imported file is unusable as a whole (nothing was changed)."""

    title = "Import rejected"


class InvalidInput(GeoappError):
    """Submitted data (a form or API body) fails validation; ``field`` names the culprit."""

    title = "Invalid input"

    def __init__(self, field: str, detail: str | None = None, *, detail_ja: str | None = None,
                 key: str | None = None, **values: Any) -> None:
        super().__init__(detail, key=key, detail_ja=detail_ja, **values)
        self.field = field


class PhotoRejected(InvalidInput):
    """A photo cannot be used: not an image, truncated, too large, a decompression bomb."""

    title = "Photo rejected"

    def __init__(self, index: int, reason: str, detail: str | None = None,
                 detail_ja: str | None = None, **values: Any) -> None:
        # Without a message given, the catalogue's ``error.photo.<reason>``, counted from 1.
        keyed: dict[str, Any] = {} if detail else {"key": f"error.photo.{reason}", "n": index + 1}
        super().__init__(f"photos[{index}]", detail, detail_ja=detail_ja, **keyed, **values)
        self.index = index
        self.reason = reason  # a stable code: not_an_image, too_large, truncated, too_many_pixels


class Unauthorized(GeoappError):
    """Staff pages and APIs need a logged-in member of staff."""

    title = "Login required"


class Forbidden(GeoappError):
    """The member of staff may not see or do this."""

    title = "Forbidden"


class Conflict(GeoappError):
    """The request clashes with the current state (e.g. an idempotency key reused)."""

    title = "Conflict"


class RateLimited(GeoappError):
    """Too many submissions from one client; ``retry_after`` is in seconds."""

    title = "Too many requests"

    def __init__(self, detail: str | None = None, retry_after: int = 60, *,
                 key: str | None = None, **values: Any) -> None:
        super().__init__(detail, key=key, **values)
        self.retry_after = retry_after


class PayloadTooLarge(GeoappError):
    """A request body is over the limit of the door it was sent to (checked while it streams)."""

    title = "Payload too large"

    def __init__(self, detail: str | None = None, *, detail_ja: str | None = None,
                 limit: int = 0, key: str | None = None, **values: Any) -> None:
        super().__init__(detail, key=key, detail_ja=detail_ja, **values)
        self.limit = limit


class StoreUnavailable(GeoappError):
    """The database cannot be reached just now; ``retry_after`` is in seconds."""

    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UpstreamUnavailable(GeoappError):
    """A server geoapp reads from (the hazard tiles) cannot be reached just now: refused or
    timed out. ``retry_after`` is in seconds."""

    title = "Upstream server unavailable"

    def __init__(self, detail: str | None = None, retry_after: int = 30, *,
                 key: str | None = None, **values: Any) -> None:
        super().__init__(detail, key=key, **values)
        self.retry_after = retry_after


class UpstreamBadAnswer(GeoappError):
    """A server geoapp reads from answered, but not usably (a 5xx, or not an image)."""

    title = "Bad answer from an upstream server"


class SchemaOutOfDate(GeoappError):
    """The database schema is not the one this geoapp needs (raised at start-up)."""

    title = "Database schema out of date"


#: The one table from error to HTTP status (most specific class first wins via MRO).
STATUS_CODES: dict[type[GeoappError], int] = {
    InvalidParameter: 400,
    InvalidInput: 422,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    RateLimited: 429,
    PayloadTooLarge: 413,
    StoreUnavailable: 503,
    UpstreamUnavailable: 503,
    UpstreamBadAnswer: 502,
    NotAcceptable: 406,
    ImportRejected: 422,
    LayerConfigError: 500,
    SchemaOutOfDate: 500,
    GeoappError: 500,
}


def status_for(error: GeoappError) -> int:
    """The HTTP status for an error, found along its class hierarchy."""
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500

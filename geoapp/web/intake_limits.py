"""The intake's body limits: one table of doors, enforced while a body streams in.

`BodyLimit` is a pure ASGI middleware. It wraps ``receive`` so that no route can read more
of a body than its door allows, whether the client declared a Content-Length or sends the
body chunked: a declared length over the limit is refused before a byte is read, and a
chunked body the moment the count crosses it. The refusal is `PayloadTooLarge`, raised
where the route reads its body, so each door answers in its own format (problem+json,
Open311's error body, the report form again). A response sent before the body was read to
its end carries ``Connection: close``: uvicorn then closes the connection instead of
reading and discarding the rest (a gigabyte, if a client wants).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoapp.errors import PayloadTooLarge
from geoapp.photos.pipeline import MAX_BYTES as PHOTO_BYTES
from geoapp.reports.service import MAX_PHOTOS

MB = 1024 * 1024
#: Text fields of a form, never more than this beside its files.
FIELDS_BYTES = 1 * MB
#: Forms and JSON bodies that carry no file: a reply, a login, a subscription.
SMALL_BYTES = 64 * 1024


@dataclass(frozen=True)
class Door:
    """A kind of request body, the most geoapp reads of it, and how to say so."""

    name: str
    limit: int
    hint_en: str
    hint_ja: str

    def refusal(self) -> PayloadTooLarge:
        """The error for a body over this door's limit, in English and Japanese."""
        return PayloadTooLarge(key="error.too_large", limit=self.limit,
                               hint={"en": self.hint_en, "ja": self.hint_ja})


def _size(limit: int) -> tuple[str, str]:
    text = f"{limit / MB:g} MB" if limit >= MB else f"{limit // 1024} KB"
    return f"at most {text}", f"{text}まで"


def _door(name: str, limit: int) -> Door:
    en, ja = _size(limit)
    return Door(name, limit, en, ja)


#: A report with its photos: the form, the JSON API, Open311 POST requests.
SUBMISSION = Door("submission", MAX_PHOTOS * PHOTO_BYTES + FIELDS_BYTES,
                  f"at most {MAX_PHOTOS} photos of {PHOTO_BYTES // MB} MB each",
                  f"写真は1枚{PHOTO_BYTES // MB}MBまで、{MAX_PHOTOS}枚まで")
#: A device's detection: one image (base64 in JSON grows it by a third) and its fields.
DETECTION = Door("detection", PHOTO_BYTES * 4 // 3 + SMALL_BYTES,
                 f"one image of at most {PHOTO_BYTES // MB} MB",
                 f"画像は1枚{PHOTO_BYTES // MB}MBまで")
#: A bus's position report: a small JSON object.
POSITION = _door("position", 4096)
#: Logins, staff forms, Open311 updates, and anything else that has a body.
SMALL = _door("small", SMALL_BYTES)

#: The one table: the first pattern matching a request's path names its door.
DOORS: tuple[tuple[re.Pattern[str], Door], ...] = tuple(
    (re.compile(pattern), door) for pattern, door in (
        (r"/reports/new", SUBMISSION),
        (r"/api/v1/reports", SUBMISSION),
        (r"/open311/v2/requests\.[a-z]+", SUBMISSION),
        (r"/open311/v2/servicerequestupdates\.[a-z]+", SMALL),
        (r"/api/v1/wildlife/detections", DETECTION),
        (r"/api/v1/buses/positions", POSITION),
        (r"/staff/.*", SMALL),  # the login and every staff form
    ))


def door_for(path: str) -> Door:
    """The door a request path belongs to (the small default when no pattern matches)."""
    for pattern, door in DOORS:
        if pattern.fullmatch(path):
            return door
    return SMALL


def _declared_length(scope: Scope) -> tuple[int | None, bool]:
    """The Content-Length the client declared (None if absent), and whether it sends chunks."""
    length, chunked = None, False
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return length, chunked


class BodyLimit:
    """ASGI middleware: each door reads at most its limit of a body, chunked or not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with ``receive`` counting and ``send`` closing when needed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        door = door_for(scope["path"])
        declared, chunked = _declared_length(scope)
        received = 0
        # A body is finished once its last message arrived, or when there never was one.
        finished = not chunked and not declared
        refused = declared is not None and declared > door.limit
        started = False

        async def limited_receive() -> Message:
            nonlocal received, finished, refused
            if started:
                # A file or stream being sent listens for a disconnect: it discards the body
                # rather than keeping it, and the connection closes once the answer is sent.
                return await receive()
            if refused:  # a declared length over the limit: refuse before reading a byte
                raise door.refusal()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > door.limit:
                    refused = True
                    raise door.refusal()
                finished = finished or not message.get("more_body", False)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            if message["type"] == "http.response.start" and not finished:
                # The rest of the body is unread: close rather than drain it.
                message = {**message,
                           "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)

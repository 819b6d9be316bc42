"""The intake's forms: files spooled to disk, photos read within their limit, and the one
parsed submission form that the report form, the JSON API and Open311 POST share.

Bodies reach these functions already bounded by `geoapp.web.intake_limits`; here a file
part past `SPOOL_BYTES` goes to a temporary file rather than memory, and a photo is read
into memory only once its size is known to be within the photo limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from geoapp.errors import InvalidInput
from geoapp.i18n import Lang
from geoapp.photos.pipeline import MAX_BYTES as PHOTO_BYTES
from geoapp.photos.pipeline import too_large
from geoapp.reports.service import MAX_PHOTOS
from geoapp.web.intake import answer_lang

#: A file part larger than this is written to a temporary file, not kept in memory.
SPOOL_BYTES = 256 * 1024
_ATTRIBUTE = "attribute["


class _SpoolingParser(MultiPartParser):
    """Starlette's multipart parser with geoapp's spooling threshold."""

    spool_max_size = SPOOL_BYTES


async def read_form(request: Request, *, max_files: int, max_fields: int) -> FormData:
    """The request's form, multipart or urlencoded; file parts spool to disk.

    A malformed multipart body is refused as InvalidInput on the field ``body``. The caller
    closes the form (``await form.close()``) once it has read what it needs.
    """
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        return await request.form(max_files=max_files, max_fields=max_fields)
    try:
        return await _SpoolingParser(request.headers, request.stream(), max_files=max_files,
                                     max_fields=max_fields).parse()
    except MultiPartException as exc:
        raise InvalidInput("body", key="error.form_unreadable", reason=exc.message) from None


async def read_photo(upload: UploadFile, index: int, max_bytes: int = PHOTO_BYTES) -> bytes:
    """A photo's bytes: refused as too large from its size, never reading past the limit."""
    if upload.size is not None and upload.size > max_bytes:
        raise too_large(index, upload.size, max_bytes)
    await upload.seek(0)
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise too_large(index, upload.size or len(data), max_bytes)
    return data


@dataclass
class SubmissionForm:
    """A report as a form sent it: text fields, ``attribute[...]`` values, photos, language."""

    fields: dict[str, str]
    lang: Lang
    attributes: dict[str, str] = field(default_factory=dict)
    photos: list[bytes] = field(default_factory=list)

    def text(self, name: str) -> str | None:
        """A text field's value; None when absent or empty (empty counts as absent)."""
        return self.fields.get(name) or None


async def read_submission(request: Request, photo_field: str) -> SubmissionForm:
    """Read a report's form once, photos from ``photo_field`` (at most MAX_PHOTOS are read).

    The language is the form's ``lang`` field, else the request's (`answer_lang`).
    """
    form = await read_form(request, max_files=MAX_PHOTOS + 5, max_fields=60)
    try:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        attributes = {key[len(_ATTRIBUTE):-1]: value for key, value in fields.items()
                      if key.startswith(_ATTRIBUTE) and key.endswith("]")}
        uploads = [item for item in form.getlist(photo_field) if isinstance(item, UploadFile)
                   # an empty file input sends a nameless, empty part: no photo
                   and (item.size or item.filename)]
        photos = []
        for index, upload in enumerate(uploads[:MAX_PHOTOS + 1]):  # one more is refused
            photos.append(await read_photo(upload, index))
    finally:
        await form.close()
    return SubmissionForm(fields, answer_lang(request, fields.get("lang")), attributes, photos)

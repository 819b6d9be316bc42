"""Downloads streamed in constant memory: exports and open-data files."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse


def _disposition(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def attachment(body: bytes, media_type: str, name: str) -> Response:
    """A small download made whole in memory (the file layers' national formats)."""
    return Response(body, media_type=media_type, headers=_disposition(name))


def streamed(chunks: Iterator[bytes], media_type: str, name: str) -> StreamingResponse:
    """A download sent chunk by chunk as ``chunks`` makes it.

    The first chunk is made before answering, so a store that fails at once (an outage, a
    statement cancelled) still gets its proper error answer instead of a cut-off 200.
    """
    first = next(chunks, b"")
    return StreamingResponse(itertools.chain([first], chunks), media_type=media_type,
                             headers=_disposition(name))


def temporary_file(path: Path, media_type: str, name: str) -> FileResponse:
    """A download of a file written for this answer, deleted once it is sent."""
    return FileResponse(path, media_type=media_type, headers=_disposition(name),
                        background=BackgroundTask(path.unlink, missing_ok=True))

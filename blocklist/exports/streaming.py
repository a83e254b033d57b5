"""Streamed export answers: bytes in buffers, an ETag per position, conditional GET, gzip on
request, and the consistent read closed when the answer ends or is abandoned."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from flask import Response, request

from ..feeds import cursors
from ..feeds.snapshot import ConsistentRead, gzipped

BUFFER_CHARS = 256 * 1024
CURSOR_HEADER = "X-Blocklist-Cursor"


def buffered(pieces: Iterator[str | bytes]) -> Iterator[bytes]:
    """Text or bytes, in buffers of about BUFFER_CHARS."""
    parts: list[bytes] = []
    size = 0
    for piece in pieces:
        data = piece.encode() if isinstance(piece, str) else piece
        parts.append(data)
        size += len(data)
        if size >= BUFFER_CHARS:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)


def stream(
    read: ConsistentRead,
    name: str,
    version: int,
    mimetype: str,
    body: Callable[[], Iterator[str | bytes]],
    *,
    compressible: bool = True,
) -> Response:
    """The answer for the export `name` whose content last changed at feed position `version`
    (read at `read.position`): 304 when If-None-Match names it (weak comparison, or `*`), else
    `body()` streamed, gzip-encoded when the client accepts it (and it is `compressible`)."""
    gzip = compressible and request.accept_encodings["gzip"] > 0
    etag = f'"{name}-{version}{"-gzip" if gzip else ""}"'
    headers = {"ETag": etag, CURSOR_HEADER: cursors.encode(read.position), "Vary": "Accept-Encoding"}
    if request.if_none_match.contains_weak(etag.strip('"')):
        read.close()
        return Response(status=304, headers=headers)

    def chunks() -> Iterator[bytes]:
        try:
            yield from buffered(body())
        finally:
            read.close()

    data = chunks()
    if gzip:
        data = gzipped(data)
        headers["Content-Encoding"] = "gzip"
    response = Response(data, mimetype=mimetype, headers=headers)
    response.call_on_close(read.close)
    return response

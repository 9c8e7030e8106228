"""Streamed downloads and the audit trail: a download whose record cannot be written must look failed.

Each chunk of a streamed export is recorded before it leaves (audit.disclosure); when that write fails the
stream stops. Stopping is not enough on its own: a response without Content-Length that simply ends looks
complete to the client whenever the server ends it by closing the connection (Django's runserver does, and
so does any HTTP/1.0 exchange). So the guard below

- reads the first chunk before the response leaves: a failure there becomes the 503 outage page, and
- on a failure later, resets the connection (TCP RST) before the server can close it cleanly, so that
  curl, browsers and HTTP libraries report an interrupted download on every server. gunicorn also ends a
  chunked response without its last chunk; the reset makes the two servers behave alike.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest

from audit.disclosure import AuditUnavailable

logger = logging.getLogger("audit")

_NOTHING = object()


def _client_socket(environ: dict[str, Any]) -> socket.socket | None:
    """The client's socket, where the WSGI server exposes it: gunicorn names it; Django's development server
    only passes it inside wsgi.input (LimitedStream → the handler's buffered reader → its SocketIO)."""
    sock = environ.get("gunicorn.socket")
    if isinstance(sock, socket.socket):
        return sock
    reader = getattr(getattr(environ.get("wsgi.input"), "_read", None), "__self__", None)
    sock = getattr(getattr(reader, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def connection_reset(request: HttpRequest) -> bool:
    """Close the client's connection with a reset (SO_LINGER 0), so what was sent reads as cut off."""
    sock = _client_socket(getattr(request, "environ", {}))
    if sock is None or sock.fileno() < 0:
        return False
    try:
        # detach() leaves the server's socket object closed (its later writes fail, which it handles) and
        # hands us the descriptor, which is closed at once with linger 0: the kernel sends RST, not FIN.
        raw = socket.socket(fileno=sock.detach())
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
    except OSError:
        logger.exception("audit: could not reset the connection of an aborted download")
        return False
    return True


def first_chunk(iterator: Iterator[bytes]) -> object:
    """The first chunk (its record is written as it is produced), or _NOTHING for an empty stream.
    AuditUnavailable and database errors propagate: nothing has left yet, so the caller answers the outage page."""
    return next(iterator, _NOTHING)


def guarded(request: HttpRequest, first: object, iterator: Iterator[bytes]) -> Iterator[bytes]:
    if first is not _NOTHING:
        yield first  # type: ignore[misc]
    try:
        yield from iterator
    except Exception as error:
        # Whatever stopped it (the record, the database), what was sent is incomplete and must look so.
        if isinstance(error, AuditUnavailable):
            logger.error("audit: a streamed download stopped because its record could not be written")
        connection_reset(request)
        raise

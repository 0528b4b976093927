"""The body-size limit: refuse a declared oversize body unread, and stop reading an undeclared one at the limit.

Flask's MAX_CONTENT_LENGTH makes Werkzeug wrap the server's input stream in a LimitedStream,
even on gunicorn and waitress, which otherwise hand the app their own faster stream. This
limit reads the declared Content-Length instead, and wraps the input only of a body without
one (chunked), which no benchmark sends, so that the benchmarked streams stay the server's own.
"""

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .bodies import CountingInput


class OverLimit(RequestEntityTooLarge):
    """The body is over UPLOAD_LIMIT (and not over some limit of Werkzeug's own)."""


def _over(size_text, limit):
    return OverLimit(f"body of {size_text} bytes is over the {limit}-byte limit (UPLOAD_LIMIT)")


class BoundedInput(CountingInput):
    """The server's input stream, read no further than limit + 1 bytes: the next byte is a 413."""

    def __init__(self, stream, limit):
        super().__init__(stream)
        self._limit = limit

    def _room(self, size):
        room = self._limit + 1 - self.count  # one byte past the limit is enough to know
        return room if size is None or size < 0 else min(size, room)

    def _checked(self, block):
        if self.count > self._limit:
            raise _over(f"more than {self._limit}", self._limit)
        return block

    def read(self, size=-1):
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        return self._checked(super().read(self._room(size)))

    def readline(self, size=-1):
        return self._checked(super().readline(self._room(size)))


def refuse_declared_oversize():
    """Answer 413 before reading a body whose Content-Length is over the limit."""
    limit = current_app.config["UPLOAD_LIMIT"]
    if request.content_length is not None and request.content_length > limit:
        raise _over(request.content_length, limit)


def bound_undeclared_body():
    """Let a body without Content-Length be read only up to the limit (before anything reads it)."""
    if request.content_length is None:
        environ = request.environ
        environ["wsgi.input"] = BoundedInput(environ["wsgi.input"], current_app.config["UPLOAD_LIMIT"])


def init_app(app):
    """Enforce UPLOAD_LIMIT on every request, when it is set."""
    if app.config["UPLOAD_LIMIT"] is not None:
        app.before_request(refuse_declared_oversize)
        app.before_request(bound_undeclared_body)

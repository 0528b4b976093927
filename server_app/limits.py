"""The body-size limit, enforced without touching request.stream.

Flask's MAX_CONTENT_LENGTH makes Werkzeug wrap the server's input stream in a LimitedStream,
even on gunicorn and waitress, which otherwise hand the app their own faster stream. This
limit reads the declared Content-Length instead, and checks bodies of unknown length after
they are stored.
"""

from flask import abort, current_app, request


def _limit():
    return current_app.config.get("UPLOAD_LIMIT")


def refuse_declared_oversize():
    """Answer 413 before reading a body whose Content-Length is over the limit."""
    limit = _limit()
    if limit is not None and request.content_length is not None and request.content_length > limit:
        abort(413, f"body of {request.content_length} bytes is over the {limit}-byte limit (UPLOAD_LIMIT)")


def refuse_stored_oversize(stored):
    """Delete a stored upload of undeclared length that went over the limit, and answer 413."""
    limit = _limit()
    if limit is not None and stored.bytes > limit:
        stored.path.unlink()
        abort(413, f"body of {stored.bytes} bytes is over the {limit}-byte limit (UPLOAD_LIMIT)")

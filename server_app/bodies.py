"""How a request body is read safely: its framing checked, a stall dropped, a broken body answered with a 4xx.

A client can end a body early, cut a chunked body before its last chunk, stall mid-body or send two
framings at once. Each server reports these its own way (Werkzeug raises ClientDisconnected or an
OSError, gunicorn NoMoreData, uWSGI an OSError, a socket timeout a TimeoutError); here they all
become the client's error, with a JSON answer that names it.
"""

import errno

from flask import abort, current_app, jsonify, request
from werkzeug.exceptions import ClientDisconnected, HTTPException
from werkzeug.wsgi import LimitedStream

from .deployments import SOCKET_KEYS

# errno values of a peer that went away: the body cannot be read any more.
CONNECTION_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ENOTCONN, errno.ESHUTDOWN}
# Timeouts reported as a bare OSError, not a TimeoutError: uWSGI's --socket-timeout, and a read of a
# socket file after an earlier read timed out (a parser that swallowed the first one, Werkzeug 2.2's).
TIMEOUT_MESSAGES = ("timeout during read", "cannot read from timed out object")
# errno values of storage that cannot take the body.
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# An error answered before its body was read is sent after the rest of a declared body of at most this many
# bytes has been read and dropped: uWSGI resets a connection it closes with unread bytes in it, and nginx
# in front, still writing the body, then answers 502 instead of the app's answer. A larger body is not
# worth reading for an error; a 408 or a 413 is not read further at all.
DRAIN_MAX = 64 << 20
NOT_DRAINED = (408, 413)


class CountingInput:
    """The server's input stream, counting the bytes read through it (for a parser that reads it itself)."""

    def __init__(self, stream):
        self._stream = stream
        self.count = 0

    def read(self, size=-1):
        block = self._stream.read(size)
        self.count += len(block)
        return block

    def readline(self, size=-1):
        line = self._stream.readline(size)
        self.count += len(line)
        return line

    def __iter__(self):
        while line := self.readline():
            yield line


class DelimitedInput(CountingInput):
    """A counting input that also notes whether a multipart delimiter ("--" + boundary) has passed through it;
    it looks only until the first one, which a well-formed body starts with, so the rest costs nothing."""

    def __init__(self, stream, delimiter: bytes):
        super().__init__(stream)
        self.delimiter = delimiter
        self.delimited = False
        self._tail = b""  # the end of what was read, for a delimiter split between two reads

    def _look(self, block):
        if not self.delimited and block:
            seen = self._tail + block
            self.delimited = self.delimiter in seen
            self._tail = seen[-(len(self.delimiter) - 1) :]
        return block

    def read(self, size=-1):
        return self._look(super().read(size))

    def readline(self, size=-1):
        return self._look(super().readline(size))


def count_body(delimiter: bytes = None):
    """Count the body as it is read (before anything reads it), and look for a multipart ``delimiter`` in it;
    return the counter."""
    stream = request.environ["wsgi.input"]
    counter = CountingInput(stream) if delimiter is None else DelimitedInput(stream, delimiter)
    request.environ["wsgi.input"] = counter
    return counter


def _is_chunked():
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _server_software():
    environ = request.environ
    return environ.get("SERVER_SOFTWARE") or ("uWSGI" if "uwsgi.version" in environ else "unknown")


def check_framing():
    """Refuse a body framed two ways (400) and a chunked body the server will not de-chunk (411)."""
    if not _is_chunked():
        return
    if request.environ.get("CONTENT_LENGTH") and "HTTP_TRANSFER_ENCODING" in request.environ:
        abort(
            400,
            "the request has both Transfer-Encoding: chunked and Content-Length: its length is "
            "ambiguous (RFC 9112, section 6.3), so it is refused",
        )
    if request.content_length is None and not request.environ.get("wsgi.input_terminated"):
        abort(
            411,
            f"this server ({_server_software()}) does not read chunked "
            "request bodies (it would hand the app an empty body): send a Content-Length",
        )


def apply_idle_timeout():
    """Let a read of the body wait at most IDLE_TIMEOUT seconds, on servers that hand the app its socket.

    uWSGI (--socket-timeout) and waitress (--channel-timeout) are given the timeout on their
    command line; the Werkzeug server and gunicorn's sync workers set none of their own.
    """
    for key in SOCKET_KEYS.values():
        sock = request.environ.get(key)
        if sock is not None:
            sock.settimeout(current_app.config["IDLE_TIMEOUT"])


def _error(status, message):
    response = jsonify(
        error={400: "Bad Request", 408: "Request Timeout", 507: "Insufficient Storage"}[status], detail=message
    )
    response.status_code = status
    return response


def body_read_error(exc):
    """Answer an OSError raised while a body was read or stored: 408, 400 or 507; anything else is a 500."""
    if isinstance(exc, TimeoutError) or str(exc).startswith(TIMEOUT_MESSAGES):
        _clear_timed_out_socket_file()
        return _error(
            408,
            f"no body bytes arrived for {current_app.config['IDLE_TIMEOUT']} s (IDLE_TIMEOUT): the upload was dropped",
        )
    if exc.errno in STORAGE_ERRNOS:
        return _error(507, f"the upload could not be stored: {exc}")
    if exc.errno is None or exc.errno in CONNECTION_ERRNOS:
        # Raised by the server's reader, not by a system call of ours: the body ended or is malformed.
        return _error(
            400,
            f"the request body could not be read ({type(exc).__name__}: {exc}): it ended "
            "early or its chunked framing is broken",
        )
    raise exc


def _clear_timed_out_socket_file():
    """Let the Werkzeug server read its socket again after a read of the body timed out.

    After the answer the Werkzeug server reads what is left of the body, to spare the client a reset. A
    socket file whose read timed out refuses every later read (CPython's SocketIO), so that read raised
    and the server logged a traceback after every 408. The flag is CPython's own; a file without it is
    left as it is.
    """
    stream = request.environ.get("wsgi.input")
    while hasattr(stream, "_stream"):  # the suite's counting wrappers
        stream = stream._stream
    raw = getattr(stream, "raw", None)
    if getattr(raw, "_timeout_occurred", False):
        raw._timeout_occurred = False


def read_error(exc):
    """Return the error behind a failed read of the body: Werkzeug's LimitedStream hides a timeout or
    another OSError behind ClientDisconnected."""
    if isinstance(exc, ClientDisconnected) and isinstance(exc.__context__, OSError):
        return exc.__context__
    return exc


def client_disconnected(exc):
    """Answer Werkzeug's ClientDisconnected (its stream ended before Content-Length) with what happened."""
    cause = read_error(exc)
    if cause is not exc:
        return body_read_error(cause)
    return _error(
        400, f"the client ended the body early: fewer bytes than its Content-Length ({request.content_length}) arrived"
    )


def init_app(app):
    """Check every request's framing and idle timeout, and answer broken bodies.

    No Connection: close is added to these answers (waitress refuses hop-by-hop headers from an app,
    PEP 3333): the Werkzeug server, gunicorn's sync workers and uWSGI's http-socket close every
    connection after its answer, and waitress reads every body whole before the app runs.
    """
    app.before_request(check_framing)
    app.before_request(apply_idle_timeout)
    app.register_error_handler(OSError, body_read_error)
    app.register_error_handler(ClientDisconnected, client_disconnected)


def drain_unread_body(status: int):
    """Read and drop what is left of a declared body before an error answer (see DRAIN_MAX)."""
    if status in NOT_DRAINED:
        return
    stream, length = _unread_body()
    if stream is not None and (length or 0) <= DRAIN_MAX:
        _read_to_end(stream)


def _unread_body():
    """Return what is left of the body and its declared length (None: chunked); (None, None) when the app can
    read nothing of it."""
    environ = request.environ
    if request.content_length is not None or environ.get("wsgi.input_terminated"):
        return request.stream, request.content_length
    declared = environ.get("CONTENT_LENGTH", "")
    if declared.isdigit():
        # chunked with a length beside it, which the server does not de-chunk, so request.stream is empty: the
        # input as declared (behind nginx, which de-chunks a body for uWSGI and passes both headers on, that is
        # the whole body)
        return LimitedStream(environ["wsgi.input"], int(declared)), int(declared)
    return None, None


def _read_to_end(stream):
    """Read and drop a stream up to its end, or DRAIN_MAX bytes."""
    left = DRAIN_MAX
    try:
        while left > 0 and (block := stream.read(min(left, 1 << 20))):
            left -= len(block)
    except (OSError, HTTPException):  # the body is broken, gone or over the limit: read no more of it
        pass

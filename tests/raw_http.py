"""Speak HTTP/1.1 over a raw socket: any body, framed or broken, ended or stalled, and the answer or the close."""

import hashlib
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass

# How a client ends: CLOSE half-closes after sending (the server sees the body end); STALL keeps the
# connection open and sends nothing more.
CLOSE = "close"
STALL = "stall"
# The answer of a server that closed the connection without a response.
CLOSED = None

BOUNDARY = "f4ultb0undary"
OCTET = "application/octet-stream"


@dataclass
class Answer:
    status: int | None  # CLOSED: the connection ended without an HTTP response
    headers: dict
    body: bytes
    seconds: float

    @property
    def json_detail(self) -> str:
        """Return the detail of a JSON error answer, or '' when the answer is not one."""
        try:
            return json.loads(self.body).get("detail", "")
        except ValueError:
            return ""


def payload(size: int) -> bytes:
    """Return size bytes of a fixed non-repeating-looking pattern (no CRLF pairs, so never a boundary)."""
    block = hashlib.sha256(str(size).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


def multipart_body(file_bytes: bytes, field="file", filename="x.bin", boundary=BOUNDARY, close=True) -> bytes:
    """Return a multipart/form-data body with one part (a file part when filename is set)."""
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename else "")
    body = (
        f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {OCTET}\r\n\r\n"
    ).encode() + file_bytes
    return body + (f"\r\n--{boundary}--\r\n".encode() if close else b"")


def multipart_type(boundary=BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary}" if boundary else "multipart/form-data"


def chunked(body: bytes, chunk=64 << 10, last=True) -> bytes:
    """Return body in chunked transfer encoding, with its final 0-chunk or without."""
    out = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + chunk]), body[i : i + chunk]) for i in range(0, len(body), chunk)
    )
    return out + (b"0\r\n\r\n" if last else b"")


def request_head(path, content_type, headers) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {content_type}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port, head: bytes, body: bytes, ending: str, timeout: float) -> Answer:
    """Send head and body from a thread, end as told, and read the answer (or the close) meanwhile.

    The body goes out from a thread so that a server that answers before reading it all (a 413
    from the Content-Length) is heard, not lost to a send that blocks on a full socket buffer.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    started = time.monotonic()

    def send():
        try:
            sock.sendall(head + body)
            if ending == CLOSE:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before taking it all
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
            answer_body = response.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.IncompleteRead):
            return Answer(CLOSED, {}, b"", time.monotonic() - started)
        except TimeoutError:
            raise AssertionError(f"neither an answer nor a close within {timeout} s: the server hangs") from None
        return Answer(response.status, dict(response.getheaders()), answer_body, time.monotonic() - started)
    finally:
        sock.close()
        sender.join(timeout)

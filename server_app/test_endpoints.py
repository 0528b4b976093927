"""Endpoints that exist only to test the suite's own measurements (enabled by --test-endpoints)."""

import os

from flask import Blueprint, abort, jsonify, request

from .config import MiB

bp = Blueprint("test_endpoints", __name__)


@bp.post("/test/allocate")
def allocate():
    """Hold a buffer of ?mb= MiB, every page written, for the length of the request."""
    mb = request.args.get("mb", type=int)
    if mb is None or not 0 < mb <= 4096:
        abort(400, f"mb={request.args.get('mb')!r}: expected a whole number of MiB from 1 to 4096")
    buffer = b"\x01" * (mb * MiB)  # written, so resident
    return jsonify(allocated=len(buffer), pid=os.getpid())

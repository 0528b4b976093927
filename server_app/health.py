"""Readiness and digest endpoints."""

import hashlib
import os

from flask import Blueprint, abort, current_app, jsonify

from .storage import stored_path

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    return jsonify(
        status="ok",
        pid=os.getpid(),
        role="relay" if current_app.config["NEXT_HOP"] else "final",
        deployment=current_app.config["DEPLOYMENT"],
        next_hop=current_app.config["NEXT_HOP"],
        durable=current_app.config["DURABLE"],
    )


def _stored(name):
    try:
        path = stored_path(current_app.config["UPLOAD_DIR"], name)
    except ValueError:
        abort(404)
    if not path.is_file():
        abort(404)
    return path


@bp.get("/uploads/<name>/md5")
def digest(name):
    path = _stored(name)
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(current_app.config["BLOCK_SIZE"]):
            md5.update(block)
    return jsonify(name=name, md5=md5.hexdigest(), bytes=path.stat().st_size)


@bp.delete("/uploads/<name>")
def delete(name):
    """Delete a stored upload: a client on another machine cleans up what it verified."""
    path = _stored(name)
    path.unlink(missing_ok=True)
    return jsonify(deleted=name)

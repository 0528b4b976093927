"""Apps of someone else's for tests/test_your_app.py: each stores under stored/ beside this file (the tests copy
it into a temporary folder), and each checks integrity differently or loses bytes on purpose."""

import hashlib
from pathlib import Path

from flask import Flask, jsonify, request, send_file

STORE = Path(__file__).parent / "stored"
app = Flask(__name__)


@app.put("/blobs/<name>")
def put_blob(name):
    """Store the raw body; answer with its md5 under 'file.md5' (for --upload-app-digest)."""
    STORE.mkdir(exist_ok=True)
    data = request.get_data()
    (STORE / name).write_bytes(data)
    return jsonify(file={"md5": hashlib.md5(data).hexdigest(), "bytes": len(data)})


@app.get("/blobs/<name>")
def get_blob(name):
    """Return a stored blob (for --upload-app-read-back)."""
    return send_file(STORE / name, mimetype="application/octet-stream")


@app.put("/misreported/<name>")
def misreported(name):
    """Store the raw body whole, but answer with the md5 of something else."""
    STORE.mkdir(exist_ok=True)
    (STORE / name).write_bytes(request.get_data())
    return jsonify(file={"md5": hashlib.md5(b"something else").hexdigest()})


@app.post("/lossy")
def lossy():
    """Store the part 'file', dropping its last byte when it is a carriage return, as Werkzeug 3.1.4 did."""
    STORE.mkdir(exist_ok=True)
    data = request.files["file"].read()
    (STORE / "upload").write_bytes(data[:-1] if data.endswith(b"\r") else data)
    return "stored", 200

"""An upload service that is not server_app: what `--upload-app` measures (docs/your-app.md walks through it).

It differs from server_app in every way the options cover: its own paths, with the file's name in them
(`POST /api/documents/<name>`, `PUT /api/blobs/<name>`), the multipart field `document` beside a required
form field `owner`, a token header, and storage with Werkzeug's `FileStorage.save` under its own folder
(EXAMPLE_APP_STORE, default `stored/` beside this file). It reports no md5: the suite checks what it stored.

    pytest --benchmark-only --upload-app=upload_app:app --upload-app-path=examples \\
        --upload-app-endpoint=/api/documents/{name} --upload-app-body=multipart:document \\
        --upload-app-form=owner=bench --upload-app-header='X-Api-Token: example-token' \\
        --upload-app-stored=examples/stored
"""

import os
import re
import shutil
from pathlib import Path

from flask import Flask, abort, jsonify, request

TOKEN_HEADER = "X-Api-Token"
TOKEN = "example-token"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")

app = Flask(__name__)
STORE = Path(os.environ.get("EXAMPLE_APP_STORE") or Path(__file__).parent / "stored")


def _checked(name: str) -> str:
    if request.headers.get(TOKEN_HEADER) != TOKEN:
        abort(401, f"{TOKEN_HEADER} is missing or wrong")
    if not NAME.fullmatch(name):
        abort(400, f"bad document name {name!r}")
    return name


@app.post("/api/documents/<name>")
def add_document(name):
    """Store the multipart part `document` under STORE/<owner>/<name>."""
    _checked(name)
    owner = request.form.get("owner", "")
    if not NAME.fullmatch(owner):
        abort(400, "the form field 'owner' is missing or not a plain name")
    document = request.files.get("document")
    if document is None:
        abort(400, "no multipart part named 'document'")
    folder = STORE / owner
    folder.mkdir(parents=True, exist_ok=True)
    document.save(folder / name)
    return jsonify(saved=f"{owner}/{name}", bytes=(folder / name).stat().st_size), 201


@app.put("/api/blobs/<name>")
def put_blob(name):
    """Store the raw request body under STORE/blobs/<name>."""
    _checked(name)
    folder = STORE / "blobs"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "wb") as f:
        shutil.copyfileobj(request.stream, f, 1 << 20)
    return jsonify(saved=f"blobs/{name}", bytes=(folder / name).stat().st_size), 201

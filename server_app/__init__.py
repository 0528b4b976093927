"""The Flask application that receives the benchmarked uploads."""

import os
from pathlib import Path

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

ENV_PREFIX = "UPLOAD_BENCH_"


def create_app(config=None):
    """Build the app; settings come from ``config`` or UPLOAD_BENCH_* environment variables.

    UPLOAD_DIR (required) is where uploads are stored. NEXT_HOP, when set, turns this
    server into a pass-through hop that streams every upload on to that base URL.
    UPLOAD_LIMIT, when set, refuses bodies larger than that many bytes with 413.
    """
    app = Flask(__name__)
    app.config.update(UPLOAD_DIR=None, NEXT_HOP=None, BLOCK_SIZE=1024 * 1024)
    app.config.from_prefixed_env(prefix=ENV_PREFIX.rstrip("_"), loads=str)
    if config:
        app.config.update(config)
    if not app.config["UPLOAD_DIR"]:
        raise ValueError("UPLOAD_DIR is not set: pass it in config or UPLOAD_BENCH_UPLOAD_DIR")
    upload_dir = Path(app.config["UPLOAD_DIR"])
    upload_dir.mkdir(parents=True, exist_ok=True)
    app.config["UPLOAD_DIR"] = upload_dir
    app.config["BLOCK_SIZE"] = int(app.config["BLOCK_SIZE"])
    if app.config.get("MAX_CONTENT_LENGTH") is not None:
        raise ValueError(
            "MAX_CONTENT_LENGTH would wrap request.stream in Werkzeug's LimitedStream on every "
            "server (the slow path for line iteration): set UPLOAD_LIMIT instead"
        )
    if app.config.get("UPLOAD_LIMIT") is not None:
        app.config["UPLOAD_LIMIT"] = int(app.config["UPLOAD_LIMIT"])

    from . import health, limits, profiling, receiving, relaying

    profiling.init_app(app)  # hooks only when config PROFILING allows it
    if app.config.get("UPLOAD_LIMIT") is not None:
        app.before_request(limits.refuse_declared_oversize)
    app.register_blueprint(health.bp)
    if app.config.get("TEST_ENDPOINTS") in (True, "1"):
        from . import test_endpoints

        app.register_blueprint(test_endpoints.bp)
    if app.config["NEXT_HOP"]:
        app.register_blueprint(relaying.bp)
    else:
        app.register_blueprint(receiving.bp)

    @app.errorhandler(HTTPException)
    def json_error(exc):
        return jsonify(error=exc.name, detail=exc.description, pid=os.getpid()), exc.code

    return app

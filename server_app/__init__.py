"""The Flask application that receives the benchmarked uploads."""

import os

from .config import config_from_environment, settings


def create_app(config=None):
    """Build the app from ``config`` (a dict; keys in server_app.config.KEYS), or from the environment if None.

    UPLOAD_DIR (required) is where uploads are stored. NEXT_HOP, when set, turns this server
    into a pass-through hop that streams every upload on to that base URL. UPLOAD_LIMIT, when
    set, refuses bodies larger than that many bytes with 413. A bad key or value raises
    server_app.config.ConfigError naming it and what is allowed.
    """
    # Flask is imported here, not at the top: the client process imports server_app's constants
    # (fixtures.uploads.clients, fixtures.uploads.methods), and its measured RSS must not carry a web framework.
    from flask import Flask, jsonify
    from werkzeug.exceptions import HTTPException

    checked = config_from_environment() if config is None else settings(config)
    app = Flask(__name__)
    app.config.update(checked)
    app.config["UPLOAD_DIR"].mkdir(parents=True, exist_ok=True)

    from . import bodies, health, limits, parsers, profiling, receiving, relaying

    profiling.init_app(app)  # hooks only when PROFILING is true
    bodies.init_app(app)  # before the limit: a body of ambiguous length is refused first
    limits.init_app(app)
    app.register_blueprint(health.bp)
    if app.config["TEST_ENDPOINTS"]:
        from . import test_endpoints

        app.register_blueprint(test_endpoints.bp)
    if app.config["NEXT_HOP"]:
        app.register_blueprint(relaying.bp)
    else:
        app.register_blueprint(receiving.bp)
        app.register_blueprint(parsers.bp)

    @app.errorhandler(HTTPException)
    def json_error(exc):
        bodies.drain_unread_body(exc.code)
        return jsonify(error=exc.name, detail=exc.description, pid=os.getpid()), exc.code

    return app

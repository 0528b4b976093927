"""WSGI entry point for the deployments python -m server_app execs: the app, configured from UPLOAD_BENCH_CONFIG
(server_app itself, or an app of your own when APP names one: server_app.hosting)."""

from . import create_app
from .config import config_from_environment

_config = config_from_environment()
if _config["APP"]:
    from .hosting import hosted

    app = hosted(_config)
else:
    app = create_app(_config)

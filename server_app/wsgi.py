"""WSGI entry point for the deployments python -m server_app execs: the app, configured from UPLOAD_BENCH_CONFIG."""

from . import create_app

app = create_app()

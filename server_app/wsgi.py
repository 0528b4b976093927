"""WSGI entry point for production servers: the app, configured from UPLOAD_BENCH_* variables."""

from . import create_app

app = create_app()

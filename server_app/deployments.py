"""How server_app is served: one entry per deployment."""

import os
from dataclasses import dataclass, field
from importlib import metadata


@dataclass(frozen=True)
class Deployment:
    name: str
    package: str
    description: str
    settings: dict = field(default_factory=dict)

    def available(self) -> bool:
        try:
            metadata.version(self.package)
        except metadata.PackageNotFoundError:
            return False
        return True

    def version(self) -> str:
        return metadata.version(self.package)


def serve_werkzeug(deployment, app_factory, host, port):
    from werkzeug.serving import run_simple

    # threaded like `flask run`; no reloader, no debugger: they would fork or slow the server.
    run_simple(host, port, app_factory(), threaded=True, use_reloader=False, use_debugger=False)


DEPLOYMENTS = {
    "werkzeug": Deployment(
        "werkzeug",
        "werkzeug",
        "Werkzeug development server (flask run), threaded, as in the seed",
        {"threaded": True},
    ),
}

SERVE = {"werkzeug": serve_werkzeug}


def get(name: str) -> Deployment:
    try:
        return DEPLOYMENTS[name]
    except KeyError:
        raise ValueError(f"unknown deployment {name!r}; choose from {', '.join(DEPLOYMENTS)}") from None


def serve(name, host, port):
    """Serve create_app() (configured from UPLOAD_BENCH_* variables) with the named deployment."""
    from . import create_app

    deployment = get(name)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    SERVE[name](deployment, create_app, host, port)

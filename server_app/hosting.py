"""An app of your own as the final hop: python -m server_app --app MODULE:NAME serves it under any deployment.

The suite needs one thing of a server it starts: GET /health answered by the process tree it started (its pid),
which is how it knows the server is up and is its own. That one request is answered here (a GET /health of your
app's own is not reached); every other request goes to your app untouched, with the environ and start_response
the server gave.
"""

import importlib
import json
import os
import sys

HEALTH = "/health"


class HostError(RuntimeError):
    """The app named by APP cannot be imported or is not a WSGI callable."""


def load(spec: str, path=None):
    """Return the WSGI callable named 'MODULE:NAME' ('MODULE:NAME()' calls a factory), imported from path first."""
    module_name, _, name = spec.partition(":")
    if path is not None and str(path) not in sys.path:
        sys.path.insert(0, str(path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        where = f" (looked in {path} first)" if path else ""
        raise HostError(f"APP {spec!r}: module {module_name!r} cannot be imported{where}: {exc}") from None
    factory = name.endswith("()")
    target = module
    for part in name.removesuffix("()").split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise HostError(f"APP {spec!r}: {module_name} has no {name.removesuffix('()')!r}") from None
    app = target() if factory else target
    if not callable(app):
        raise HostError(f"APP {spec!r} is a {type(app).__name__}, not a WSGI callable")
    return app


class Hosted:
    """Your app behind the suite's one request of its own, GET /health."""

    def __init__(self, app, spec: str, deployment=None):
        self.app = app
        self.spec = spec
        self.deployment = deployment

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == HEALTH and environ.get("REQUEST_METHOD") == "GET":
            answer = {
                "status": "ok",
                "pid": os.getpid(),
                "role": "app",
                "app": self.spec,
                "deployment": self.deployment,
                "next_hop": None,
            }
            body = json.dumps(answer).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


def hosted(config: dict) -> Hosted:
    """Return the app of APP, loaded from APP_PATH, ready to serve (config as server_app.config.settings made it)."""
    return Hosted(load(config["APP"], config["APP_PATH"]), config["APP"], config["DEPLOYMENT"])

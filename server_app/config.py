"""The app's configuration: its keys with their types and defaults, and the one reader of the environment.

Tests and ``python -m server_app --deployment werkzeug`` hand ``create_app`` a dict. Deployments that
exec another program (gunicorn, uWSGI, waitress load ``server_app.wsgi:app``) get the same dict as
typed JSON in one variable, ENV_VAR, written by ``python -m server_app``: nothing else in the
environment is read, so an inherited stray variable turns nothing on.
"""

import json
import os
from pathlib import Path

ENV_VAR = "UPLOAD_BENCH_CONFIG"
MiB = 1 << 20
# Seconds to open a connection to a server (the relay's next hop, or any server the harness calls).
CONNECT_TIMEOUT = 10
# Uploads of several GiB at tens of MB/s take minutes: no server may cut them short.
WORKER_TIMEOUT = 3600
# Seconds a body may go without a byte (a stalled client, a stalled next hop) before it is dropped.
IDLE_TIMEOUT = 30


class ConfigError(ValueError):
    """A configuration key that is unknown, missing or has a value of the wrong type."""

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key


def _path(value):
    if isinstance(value, (str, os.PathLike)) and str(value):
        return Path(value)
    raise TypeError


def _url(value):
    if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) > 8:
        return value
    raise TypeError


def _bool(value):
    if isinstance(value, bool):  # no spelling of true: "1", "yes" and 1 are refused
        return value
    raise TypeError


def _positive_int(value):
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise TypeError


def _positive_number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return value
    raise TypeError


def _name(value):
    if isinstance(value, str) and value.strip():
        return value
    raise TypeError


def _app_spec(value):
    module, colon, name = value.partition(":") if isinstance(value, str) else ("", "", "")
    if colon and module.strip() and name.strip() and " " not in value:
        return value
    raise TypeError


def _optional(check):
    return lambda value: None if value is None else check(value)


# key: (default, check returning the value to use or raising TypeError, what is allowed)
KEYS = {
    "UPLOAD_DIR": (None, _path, "a directory path (required): where uploads are stored"),
    "NEXT_HOP": (
        None,
        _optional(_url),
        "null, or the http(s) base URL of the next server: this one then relays every upload there",
    ),
    "DEPLOYMENT": (
        None,
        _optional(_name),
        "null, or the name of the deployment serving the app (python -m server_app sets it; "
        "GET /health tells it to a client)",
    ),
    "UPLOAD_LIMIT": (
        None,
        _optional(_positive_int),
        "null, or a positive whole number of bytes: larger bodies are refused with 413",
    ),
    "BLOCK_SIZE": (MiB, _positive_int, "a positive whole number of bytes read at a time"),
    "DURABLE": (
        False,
        _bool,
        "true or false: fsync each stored upload, and its directory after the rename, "
        "before answering, so that a 200 means the bytes are on the disk",
    ),
    "PROFILING": (False, _bool, "true or false: allow requests with X-Upload-Profile: 1 to be profiled"),
    "TEST_ENDPOINTS": (False, _bool, "true or false: add the endpoints that test the suite's measurements"),
    "RELAY_READ_TIMEOUT": (
        WORKER_TIMEOUT,
        _positive_number,
        "a positive number of seconds a relay waits for the next hop's answer once it "
        "has sent the body (a slow method at the final hop takes long to finish)",
    ),
    "APP": (
        None,
        _optional(_app_spec),
        "null, or MODULE:NAME of a WSGI app of your own (NAME() calls a factory): this server then serves it, "
        "answering GET /health itself and handing every other request to that app (server_app.hosting)",
    ),
    "APP_PATH": (None, _optional(_path), "null, or the directory APP is imported from (first on sys.path)"),
    "FORWARD_ANY_PATH": (
        False,
        _bool,
        "true or false: a relay forwards a POST or PUT of any path, with its query and the client's headers, and "
        "answers with the next hop's answer as it came (in front of an app of your own)",
    ),
    "IDLE_TIMEOUT": (
        IDLE_TIMEOUT,
        _positive_int,
        "a positive whole number of seconds a body may go without a byte before it is dropped "
        "(a relay gives its next hop as long to connect and to take each block)",
    ),
}


def settings(config, source="config") -> dict:
    """Return every key with its default filled in and its value checked; raise ConfigError naming a bad one."""
    if not isinstance(config, dict):
        raise ConfigError(f"{source} must be a dict (a JSON object) of settings, got {type(config).__name__}")
    result = {}
    for key, value in config.items():
        if key == "MAX_CONTENT_LENGTH":
            raise ConfigError(
                f"{source}: MAX_CONTENT_LENGTH would wrap request.stream in Werkzeug's LimitedStream on every "
                "server (the slow path for line iteration): set UPLOAD_LIMIT instead"
            )
        if key in KEYS:
            check, allowed = KEYS[key][1:]
            try:
                result[key] = check(value)
            except TypeError:
                raise ConfigError(f"{source}: {key}={value!r} is not allowed: expected {allowed}", key) from None
        elif key in _flask_defaults():  # Flask's own keys (TESTING, ...) go to Flask as they are
            result[key] = value
        else:
            raise ConfigError(f"{source}: unknown key {key!r}; known: {', '.join(KEYS)} (and Flask's own keys)", key)
    for key, (default, _, _allowed) in KEYS.items():
        result.setdefault(key, default)
    if result["UPLOAD_DIR"] is None:
        raise ConfigError(f"{source}: UPLOAD_DIR is not set: expected {KEYS['UPLOAD_DIR'][2]}")
    return result


def to_environment(config) -> str:
    """Return the value of ENV_VAR that carries this configuration to an exec'd deployment."""
    checked = settings(config)
    return json.dumps({key: str(value) if isinstance(value, Path) else value for key, value in checked.items()})


def config_from_environment(environ=None) -> dict:
    """Return the configuration in ENV_VAR (the only variable read); raise ConfigError if it is missing or bad."""
    environ = os.environ if environ is None else environ
    text = environ.get(ENV_VAR)
    if text is None:
        raise ConfigError(
            f"no configuration: pass one to create_app(config) or set {ENV_VAR} to a JSON object "
            f"(python -m server_app does this for the deployments it execs); known keys: {', '.join(KEYS)}"
        )
    try:
        config = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{ENV_VAR} is not valid JSON ({exc}): expected a JSON object of settings") from None
    return settings(config, source=ENV_VAR)


def _flask_defaults():
    from flask import Flask  # here, not at the top: see create_app

    return Flask.default_config

"""Every command line of README.md and docs/*.md names options, modules, files and tox environments that exist.

A renamed option, module, subcommand or tox environment then fails here instead of in a reader's terminal.
Each command is checked as its tool would read it, without the hours some of them run: a pytest command is
parsed by pytest with this plugin loaded and its --upload-* values validated as a run would (the plugin's
own parser); a `python -m` command's module is found and every option and subcommand it uses is one its
--help lists; a tox command's environments are in tox.ini. Stand-ins for what a command names that only an
earlier step or the author's machine has are in tests/docs_commands.py.
"""

import configparser
import importlib.util
import re
import subprocess
import sys
from functools import cache

import pytest

from fixtures import ROOT
from tests.conftest import parsed
from tests.docs_commands import commands

DOCUMENTED = commands(sys.executable)
NOT_OURS = {"pip": "installs packages: pip's own command"}
LOCUST_PARSE = """
import importlib.util, sys
from locust.argument_parser import parse_options
path = sys.argv[sys.argv.index("-f") + 1]
spec = importlib.util.spec_from_file_location("locustfile", path)
spec.loader.exec_module(importlib.util.module_from_spec(spec))  # registers the file's own options
parse_options(sys.argv[1:])
"""


def _options(argv) -> list:
    return [word.split("=", 1)[0] for word in argv if word.startswith("--") and word != "--"]


@cache
def _help(*program) -> str:
    done = subprocess.run([*program, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{' '.join(program)} --help exited {done.returncode}: {done.stderr[-1000:]}"
    return done.stdout


def _assert_listed(options, help_text, where):
    missing = [o for o in options if not re.search(rf"(^|[\s\[,]){re.escape(o)}\b", help_text, re.MULTILINE)]
    assert not missing, f"{where}: {', '.join(missing)} not among the options its --help lists"


def _subcommands(usage) -> list:
    """Return the choices of the usage line's first positional argument ({run,bisect,…}), not of an option's value."""
    for before, choices in re.findall(r"(\S*)\s+\[?\{([\w,-]+)\}", usage.split("\n\n", 1)[0]):
        if not re.fullmatch(r"\[?--?[\w-]+", before):
            return choices.split(",")
    return []


def _check_pytest(argv, where):
    try:
        parsed(*argv[1:])
    except pytest.UsageError as exc:
        pytest.fail(f"{where}: a run refuses it: {exc}")
    for word in argv[1:]:
        if word.startswith("tests/"):
            path, _, name = word.partition("::")
            assert (ROOT / path).exists(), f"{where}: no {path}"
            if name:
                assert re.search(rf"^def {re.escape(name)}\b", (ROOT / path).read_text(), re.MULTILINE), (
                    f"{where}: no test {name} in {path}"
                )


def _check_module(argv, where):
    module = argv[2]
    if module in NOT_OURS:
        pytest.skip(f"{where}: {NOT_OURS[module]}")
    if module == "tox":
        return _check_tox(argv[2:], where)
    assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"
    program = (sys.executable, "-m", module)
    usage = _help(*program)
    subcommands = _subcommands(usage)
    positional = [word for word in argv[3:] if not word.startswith("-")]
    if subcommands and positional and not _options(argv[3:4]):
        assert positional[0] in subcommands, f"{where}: {module} has no subcommand {positional[0]}"
        program += (positional[0],)
    before_dashdash = argv[: argv.index("--")] if "--" in argv else argv
    _assert_listed(_options(before_dashdash[3:]), _help(*program), where)
    for word in positional:
        if word.startswith(("tests/", "fixtures/")):
            assert (ROOT / word).exists(), f"{where}: no {word}"


def _check_tox(argv, where):
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    environments = {"py"} | {name.removeprefix("testenv:") for name in tox.sections() if name.startswith("testenv:")}
    environments |= {  # a section of factors, e.g. bench-werkzeug{22,23}, makes one environment per factor
        head + factor + tail
        for name in list(environments)
        if (braces := re.fullmatch(r"(.*)\{([\w,]+)\}(.*)", name))
        for head, factors, tail in [braces.groups()]
        for factor in factors.split(",")
    }
    named = argv[argv.index("-e") + 1].split(",")
    unknown = [e for e in named if e not in environments]
    assert not unknown, f"{where}: no tox environment {', '.join(unknown)} (tox.ini has {sorted(environments)})"


def _check_tool(argv, where):
    if argv[0] == "locust":
        locustfile = argv[argv.index("-f") + 1]
        assert (ROOT / locustfile).exists(), f"{where}: no {locustfile}"
        # locust's --help leaves out a locustfile's own options: parse the command as locust does once the file
        # is loaded, in a child (locust patches the standard library with gevent's on import)
        done = subprocess.run(
            [sys.executable, "-c", LOCUST_PARSE, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{where}: locust refuses it: {done.stderr[-1000:]}"
    elif argv[0] == "pytest-benchmark":
        assert argv[1] in ("compare", "list", "help"), f"{where}: pytest-benchmark has no command {argv[1]}"
        _assert_listed(_options(argv[2:]), _help("pytest-benchmark", argv[1]), where)


@pytest.mark.parametrize("command", [pytest.param(c, id=c.id) for c in DOCUMENTED])
def test_documented_command_names_what_exists(command, monkeypatch):
    monkeypatch.chdir(ROOT)
    where = f"{command.page} line {command.line}: {command.text}"
    tool = command.argv[0]
    if tool == "pytest":
        _check_pytest(command.argv, where)
    elif tool in ("python", "python3"):
        assert command.argv[1] == "-m", f"{where}: a documented command runs a module (python -m), not a script"
        _check_module(command.argv, where)
    elif tool == "tox":
        _check_tox(command.argv, where)
    else:
        _check_tool(command.argv, where)


def test_the_pages_document_commands_of_every_tool():
    tools = {c.argv[0] if c.argv[0] != "python3" else "python" for c in DOCUMENTED}
    assert {"pytest", "python", "tox", "pytest-benchmark", "locust"} <= tools
    assert len(DOCUMENTED) > 100  # the collector found the console blocks and the inline spans, not a few

"""The command lines of README.md and docs/*.md, as argument lists a test can check.

A command is a `$ ` line of a console block (with its `\\` continuations and the body of a `for … do … done`
loop, once per value), or an inline code span that starts with a tool the suite documents (`pytest …`,
`python -m …`, `tox -e …`). Shell glue is taken apart: `A && B` gives two commands, `cd DIR &&` is dropped,
a trailing `&` or `# comment` too.

Some arguments name what an earlier documented step makes or what only the author's machine has (a clone
made by `tests.data.slow_endpoint`, a tox environment of another Werkzeug, a `$CANDIDATE` ref): SUBSTITUTES
says what stands in for each, so that the rest of the command is still checked.
"""

import re
import shlex
from dataclasses import dataclass

from fixtures import ROOT

PAGES = ("README.md", "docs/*.md")
TOOLS = ("pytest", "python", "python3", "tox", "pytest-benchmark", "locust")
INLINE_STARTS = ("pytest ", "python -m ", "python3 -m ", "tox -e ", "pytest-benchmark ")

# what stands in for an argument that names something made elsewhere: (pattern of the argument, stand-in);
# an empty stand-in drops the argument
SUBSTITUTES = (
    (re.compile(r"^(--upload-against=)\$CANDIDATE$"), r"\1HEAD"),  # duet.md's gate of a candidate: any ref
    (re.compile(r"^(--upload-against=)\.\./[\w.-]+$"), r"\1."),  # a clone made by tests.data.slow_endpoint
    (re.compile(r"^(--upload-against-python=)\.tox/[\w.-]+$"), "--upload-against-python={python}"),
    # a virtualenv made by tests.data.gunicorn_small_reads (duet.md's worked example)
    (re.compile(r"^(--upload-against-python=)\.upload-versions/[\w.-]+$"), "--upload-against-python={python}"),
    # an image built by `python -m fixtures.processes.container_image NAME` (minutes, podman)
    (re.compile(r"^--upload-container-image=localhost/.*$"), ""),
    # docs/ci.md's gate runs beside your app's checkout (../app/), against its base branch on the CI's remote
    (re.compile(r"^(--upload-app-(path|stored)=)\.\./app/"), r"\1"),
    (re.compile(r"^(--upload-app-baseline=)origin/main$"), r"\1HEAD"),
)


@dataclass(frozen=True)
class Command:
    """One documented command line: where it is written and its words."""

    page: str
    line: int
    argv: tuple

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{' '.join(self.argv)[:60]}"

    @property
    def text(self) -> str:
        return shlex.join(self.argv)


def pages() -> list:
    """Return the documentation pages, README first."""
    found = []
    for pattern in PAGES:
        found += sorted(ROOT.glob(pattern))
    return found


def _console_lines(text: str):
    """Yield (line number, command text) for each `$ ` command of the page's console blocks, continuations joined."""
    lines = text.splitlines()
    inside = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            inside = not inside and line.strip() in ("```console", "```bash", "```sh", "```shell")
            i += 1
            continue
        if inside and line.startswith("$ "):
            start, command = i + 1, line[2:]
            while _continues(command) and i + 1 < len(lines):
                i += 1
                command = _join(command, lines[i].strip())
            yield start, command
        i += 1


def _continues(command: str) -> bool:
    stripped = _strip_comment(command).rstrip()
    return stripped.endswith("\\") or (stripped.startswith("for ") and not stripped.endswith("done"))


def _join(command: str, more: str) -> str:
    command = _strip_comment(command).rstrip()
    if command.endswith("\\"):
        return command[:-1].rstrip() + " " + more
    return command + " " + more  # inside a for loop: the shell would see a newline


def _strip_comment(command: str) -> str:
    return re.sub(r"\s+#\s.*$", "", command)


def _inline_spans(text: str):
    """Yield (line number, code) for inline code spans that start with a documented tool."""
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inside = not inside
            continue
        if inside:
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if span.startswith(INLINE_STARTS):
                yield number, span


def _expand(command: str) -> list:
    """Return the simple commands of a shell line: loops unrolled, `&&` split, `cd` and `&` dropped."""
    command = _strip_comment(command).strip()
    loop = re.fullmatch(r"for (\w+) in (.*?); do (.*?);? done", command)
    if loop:
        name, values, body = loop.groups()
        return [
            simple
            for value in shlex.split(values)
            for simple in _expand(re.sub(rf"\${name}\b", shlex.quote(value) if value else "", body))
        ]
    simple = []
    for part in command.split("&&"):
        part = part.strip().removesuffix("&").strip()
        argv = shlex.split(part)
        if argv and argv[0] != "cd":
            simple.append(argv)
    return simple


def _substitute(argv: list, python: str) -> tuple:
    out = []
    for word in argv:
        for pattern, stand_in in SUBSTITUTES:
            word = pattern.sub(stand_in.replace("{python}", python), word)
        if word:
            out.append(word)
    return tuple(out)


def commands(python: str) -> list:
    """Return every documented command of every page, its stand-ins substituted (python: the interpreter's path)."""
    found = []
    for page in pages():
        text = page.read_text()
        name = str(page.relative_to(ROOT))
        for number, line in [*_console_lines(text), *_inline_spans(text)]:
            for argv in _expand(line):
                if argv[0] in TOOLS:
                    found.append(Command(name, number, _substitute(argv, python)))
    return found

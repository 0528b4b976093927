"""docs/safety.md's table of what each worst-case multipart body gets from each multipart endpoint
(python -m tests.worst_bodies): the registry fixtures.uploads.bodies.ANSWERS, which the tests hold every
deployment to."""

from fixtures.uploads.bodies import ANSWERS, SHAPES, WHAT
from server_app.receiving import MULTIPART_ENDPOINTS

FILE_SIZE = 4 << 20  # above 1 MiB, where the junk around a body reaches its cap (bodies.JUNK_MOST)
TABLE_START = "<!-- worst-bodies:start -->"
TABLE_END = "<!-- worst-bodies:end -->"


def table() -> str:
    """Return docs/safety.md's table of the worst-case bodies."""
    lines = [
        "| Body | What it is | " + " | ".join(MULTIPART_ENDPOINTS) + " |",
        "|---|---|" + "---|" * len(MULTIPART_ENDPOINTS),
    ]
    for shape in SHAPES:
        answers = " | ".join(str(ANSWERS[(shape, endpoint)]) for endpoint in MULTIPART_ENDPOINTS)
        lines.append(f"| `{shape}` | {WHAT[shape]} | {answers} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")

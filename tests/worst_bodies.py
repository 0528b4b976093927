"""What each worst-case multipart body gets from each multipart endpoint: the registry the tests hold every
deployment to, and docs/safety.md's table (python -m tests.worst_bodies)."""

from fixtures.uploads.bodies import SHAPES, TINY_PARTS
from server_app.receiving import MULTIPART_ENDPOINTS

FILE_SIZE = 1 << 20
TABLE_START = "<!-- worst-bodies:start -->"
TABLE_END = "<!-- worst-bodies:end -->"

# The parsing is the app's, not the server's: every deployment answers the same.
EXPECTED = {
    ("junk-around", "files"): 200,
    ("junk-around", "streaming-form-data"): 400,  # it refuses a preamble, which RFC 2046 allows
    ("tiny-parts", "files"): 400,  # Werkzeug takes at most MAX_FORM_PARTS (1000) parts
    ("tiny-parts", "streaming-form-data"): 200,
    ("cr-storm", "files"): 200,
    ("cr-storm", "streaming-form-data"): 200,
    ("long-headers", "files"): 200,
    ("long-headers", "streaming-form-data"): 200,
}
WHAT = {
    "junk-around": "a quarter of the file's size of junk (CRLFs, dashes, the boundary's start) before the first "
    "boundary and after the last",
    "tiny-parts": f"{TINY_PARTS:,} one-byte form fields before the file part",
    "cr-storm": "a file part made of CR and CRLF sequences that are not boundaries",
    "long-headers": "a 64 KiB header line in the file part",
}


def table() -> str:
    """Return docs/safety.md's table of the worst-case bodies."""
    lines = ["| Body | What it is | " + " | ".join(MULTIPART_ENDPOINTS) + " |", "|---|---|" + "---|" * 2]
    for shape in SHAPES:
        answers = " | ".join(str(EXPECTED[(shape, endpoint)]) for endpoint in MULTIPART_ENDPOINTS)
        lines.append(f"| `{shape}` | {WHAT[shape]} | {answers} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")

"""Upload endpoints of the final hop that stream the 'file' part through python-multipart and defnull's multipart."""

from flask import Blueprint, request
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from .receiving import FILE_FIELD, receive_multipart

try:
    # python-multipart before 0.0.13 installed its own package under this name; later ones install a
    # shim there that loads defnull's multipart.py when it is installed, and python_multipart when not.
    from multipart import MultipartError, MultipartSegment, PushMultipartParser
except ImportError as exc:
    raise ImportError(
        "'import multipart' does not give defnull's multipart (pip install 'multipart>=1.2'): "
        f"python-multipart's old module of that name may hide it ({exc})"
    ) from exc

bp = Blueprint("parsers", __name__)


class PythonMultipartWriter:
    """python-multipart's callbacks: collect each part's headers, and report the 'file' part's data."""

    def __init__(self, part):
        self._part = part
        self._headers = {}
        self._field = self._value = b""
        self._writing = False

    def on_part_begin(self):
        self._headers = {}

    def on_header_field(self, data, start, end):
        self._field += data[start:end]

    def on_header_value(self, data, start, end):
        self._value += data[start:end]

    def on_header_end(self):
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def on_headers_finished(self):
        _, options = parse_options_header(self._headers.get(b"content-disposition"))
        self._writing = options.get(b"name") == FILE_FIELD.encode()
        if self._writing:
            self._part.start()

    def on_part_data(self, data, start, end):
        if self._writing:
            self._part.out.write(data[start:end])

    def on_part_end(self):
        if self._writing:
            self._part.finish()
        self._writing = False

    def callbacks(self) -> dict:
        return {name: getattr(self, name) for name in dir(self) if name.startswith("on_")}


def _python_multipart_parser(part):
    boundary = request.mimetype_params["boundary"].encode()
    parser = MultipartParser(boundary, PythonMultipartWriter(part).callbacks())
    return parser.write, parser.finalize


@bp.post("/upload/python-multipart")
def python_multipart():
    """Parse the multipart body as it arrives (python-multipart's MultipartParser) and write the 'file' part."""
    return receive_multipart("python-multipart", _python_multipart_parser, FormParserError)


def _multipart_parser(part):
    parser = PushMultipartParser(request.mimetype_params["boundary"])
    writing = False

    def feed(block):
        nonlocal writing
        for event in parser.parse(block):
            if isinstance(event, MultipartSegment):
                writing = event.name == FILE_FIELD
                if writing:
                    part.start()
            elif event is None:
                if writing:
                    part.finish()
                writing = False
            elif writing:
                part.out.write(event)

    return feed, parser.close


@bp.post("/upload/multipart")
def multipart():
    """Parse the multipart body as it arrives (defnull's multipart, PushMultipartParser) and write the 'file' part."""
    return receive_multipart("multipart", _multipart_parser, MultipartError)

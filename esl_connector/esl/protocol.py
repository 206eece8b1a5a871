"""The Event Socket wire format, without I/O.

Two layers, both pure functions of bytes:

* framing: ``FrameParser`` cuts the byte stream into ``Frame``s. A frame is a
  block of ``Name: value`` lines ended by an empty line, followed by exactly
  ``Content-Length`` body bytes when that header is present.
* events: ``parse_event`` turns the body of a ``text/event-plain`` or
  ``text/event-json`` frame into an ``Event``. Both formats give the same
  ``Event`` for the same content.

Safety rules (greenswitch's parser breaks all three):

* header lines are split *before* values are URL-decoded, so a caller-ID or
  SIP header containing ``%0A`` can never create or change another header;
* bytes are only decoded after framing, so a multi-byte UTF-8 character cut
  by a read boundary is never mangled, and bytes that are not UTF-8 survive
  as backslash escapes instead of raising;
* frame sizes are bounded: a header block or body larger than the limits is a
  ``ProtocolError`` (the client reconnects) instead of unbounded buffering.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import orjson

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
READ_SIZE = 64 * 1024  # bytes asked of the socket per read
ARRAY_PREFIX = "ARRAY::"
ARRAY_SEPARATOR = "|:"

HeaderValue = "str | list[str]"
_MISSING = object()


class ProtocolError(Exception):
    """Bytes that are not valid Event Socket data. Raised by ``FrameParser``
    the stream is unusable (``frames`` holds those completed before the bad
    one, so nothing already received is lost); raised by ``parse_event`` only
    that one event is bad."""

    def __init__(self, message: str, frames: list[Frame] | None = None):
        super().__init__(message)
        self.frames = frames or []


def decode_text(raw: bytes) -> str:
    """UTF-8 text; invalid bytes become visible ``\\xNN`` escapes, never an exception."""
    return raw.decode("utf-8", errors="backslashreplace")


@dataclass(slots=True)
class Frame:
    """One Event Socket message: the outer headers and the raw body."""

    headers: dict[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def text(self) -> str:
        return decode_text(self.body)


@dataclass(slots=True)
class Event:
    """One FreeSWITCH event. ``headers`` values are decoded strings, or lists
    of strings for multi-value variables (``ARRAY::a|:b`` in plain).

    An event-json event may arrive decoded only for the headers its reader
    declared (``esl.selective``): ``undecoded`` then holds the raw body and
    those names, and ``get`` of any other name decodes the whole body first,
    so every reader sees the same values either way (``decode_all``)."""

    headers: dict[str, str | list[str]] = field(default_factory=dict)
    body: str = ""
    undecoded: Undecoded | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.get("Event-Name")

    @property
    def subclass(self) -> str:
        return self.get("Event-Subclass")

    @property
    def uuid(self) -> str:
        return self.get("Unique-ID")

    @property
    def sequence(self) -> int:
        try:
            return int(self.get("Event-Sequence") or 0)
        except ValueError:
            return 0

    def get(self, key: str, default: str = "") -> str:
        """A header as one string (the last value of a multi-value header)."""
        value = self.headers.get(key, _MISSING)
        if value.__class__ is str:  # nearly always: one check, the tracker reads ~20 per event
            return value
        if value is _MISSING:
            if self.undecoded is None or key in self.undecoded.names:
                return default
            self.decode_all()
            return self.get(key, default)
        if isinstance(value, list):
            return value[-1] if value else default
        return value

    def decode_all(self) -> None:
        """Decode the headers left undecoded (a no-op for a whole event)."""
        if self.undecoded is not None:
            whole = parse_json_event(self.undecoded.body)
            self.headers, self.undecoded = whole.headers, None

    def var(self, name: str, default: str = "") -> str:
        """A channel variable (``variable_<name>``)."""
        return self.get("variable_" + name, default)


@dataclass(slots=True)
class Undecoded:
    """The raw event-json body of a partly decoded ``Event``, and the header
    names that were decoded (present or not). Not frozen: one is made per
    event, and a frozen dataclass takes twice as long to build."""

    body: bytes
    names: frozenset[str]


# The header block of nearly every frame FreeSWITCH sends: an event's.
_EVENT_BLOCK = re.compile(rb"Content-Length: ([0-9]{1,12})\nContent-Type: (text/event-json|text/event-plain)")


def _parse_header_block(block: bytes | bytearray) -> dict[str, str]:
    event = _EVENT_BLOCK.fullmatch(block)
    if event is not None:  # the same dict as the lines below give, in a third of the time
        return {"Content-Length": event[1].decode(), "Content-Type": event[2].decode()}
    headers: dict[str, str] = {}
    for line in block.split(b"\n"):
        name, sep, value = line.partition(b":")
        if not sep:
            line = line.rstrip(b"\r")
            if not line:
                continue
            raise ProtocolError(f"header line without ':': {decode_text(bytes(line[:80]))!r}")
        # strip() also drops the \r of a CRLF line
        headers[decode_text(name.strip())] = decode_text(value.strip())
    return headers


class FrameParser:
    """Incremental framer: ``feed(bytes)`` or ``read_from(recv_into)`` returns
    the complete frames so far.

    The bytes live in one buffer that the socket reads into directly
    (``read_from``), so a body is copied once, into its ``Frame``; each header
    block is found with one ``find``. The consumed bytes are dropped once per
    read; the buffer grows for a frame larger than a read and shrinks back."""

    def __init__(self, max_header: int = MAX_HEADER_BYTES, max_body: int = MAX_BODY_BYTES,
                 read_size: int = READ_SIZE):
        self.read_size = read_size
        self._buf = bytearray(read_size)
        self._start = 0  # first byte not consumed yet
        self._end = 0  # end of the bytes received
        self._pending: dict[str, str] | None = None  # headers of a frame waiting for its body
        self._need = 0
        self.max_header = max_header
        self.max_body = max_body

    @property
    def buffered(self) -> int:
        return self._end - self._start

    def feed(self, data: bytes) -> list[Frame]:
        with self._space(len(data)) as free:
            free[:len(data)] = data
        return self._frames(len(data))

    def read_from(self, recv_into: Callable[[memoryview], int]) -> list[Frame] | None:
        """One ``recv_into`` (a socket's) straight into the buffer: the frames
        it completed, or None when it read nothing (the peer closed)."""
        with self._space(self.read_size) as free:
            received = recv_into(free)
        return self._frames(received) if received else None

    def _space(self, size: int) -> memoryview:
        """A view of at least ``size`` free bytes after the unconsumed ones."""
        buf, start, end = self._buf, self._start, self._end
        if start:  # move the unconsumed bytes (a part of one frame) to the front
            buf[:end - start] = buf[start:end]
            start, end = self._start, self._end = 0, end - start
        if len(buf) - end < size:
            buf.extend(bytes(size - len(buf) + end))
        elif end == 0 and len(buf) > 4 * max(size, self.read_size):  # after a large frame
            buf = self._buf = bytearray(max(size, self.read_size))
        return memoryview(buf)[end:]

    def _frames(self, received: int) -> list[Frame]:
        self._end += received
        buf, end, frames = self._buf, self._end, []
        pos, pending = self._start, self._pending
        try:
            with memoryview(buf) as view:
                while True:
                    if pending is None:
                        pos, pending = self._headers(buf, pos, end)
                        if pending is None:
                            break
                        if pending.__class__ is Frame:  # no Content-Length: a frame without body
                            frames.append(pending)
                            pending = None
                            continue
                    stop = pos + self._need
                    if stop > end:
                        break
                    frames.append(Frame(pending, bytes(view[pos:stop])))
                    pos, pending = stop, None
        except ProtocolError as exc:
            raise ProtocolError(str(exc), frames) from None
        finally:
            self._start, self._pending = pos, pending
        return frames

    def _headers(self, buf: bytearray, pos: int, end: int) -> tuple[int, dict[str, str] | Frame | None]:
        """(new position, the headers of a frame with a body, or a whole
        frame without one, or None: the header block is not complete yet)."""
        # FreeSWITCH can send stray blank lines between frames; skip them.
        while pos < end and buf[pos] == 10:
            pos += 1
        stop = buf.find(b"\n\n", pos, end)
        if stop < 0:
            if end - pos > self.max_header:
                raise ProtocolError(f"header block exceeds {self.max_header} bytes")
            return pos, None
        if stop - pos > self.max_header:
            raise ProtocolError(f"header block exceeds {self.max_header} bytes")
        headers = _parse_header_block(buf[pos:stop])
        length = headers.get("Content-Length")
        if length is None:
            return stop + 2, Frame(headers)
        if not length.isdigit():
            raise ProtocolError(f"bad Content-Length {length[:40]!r}")
        self._need = int(length)
        if self._need > self.max_body:
            raise ProtocolError(f"Content-Length {self._need} exceeds {self.max_body} bytes")
        return stop + 2, headers


def parse_frames(data: bytes) -> list[Frame]:
    """All complete frames of a byte string (for captures and tests)."""
    return FrameParser(max_body=len(data) + 1).feed(data)


def _decode_plain_value(raw: bytes) -> str | list[str]:
    raw = raw.strip()
    if b"%" in raw:
        raw = unquote_to_bytes(raw)
    value = decode_text(raw)
    if value.startswith(ARRAY_PREFIX):
        return value[len(ARRAY_PREFIX):].split(ARRAY_SEPARATOR)
    return value


def parse_plain_event(body: bytes) -> Event:
    """A ``text/event-plain`` body: URL-encoded ``Name: value`` lines, then an
    optional inner body sized by the last ``Content-Length`` header."""
    end = body.find(b"\n\n")
    block, rest = (body, b"") if end < 0 else (body[:end], body[end + 2:])
    headers: dict[str, str | list[str]] = {}
    for line in block.split(b"\n"):
        name, sep, value = line.partition(b": ")
        if not sep:
            name, sep, value = line.partition(b":")
            if not sep:
                continue
        headers[decode_text(name.strip())] = _decode_plain_value(value)
    inner = headers.get("Content-Length")
    text = ""
    if isinstance(inner, str) and inner.isdigit():
        text = decode_text(rest[: int(inner)])
    return Event(headers, text)


def _json_value(value) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [v if isinstance(v, str) else json.dumps(v) for v in value]
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, dict) else str(value)


def _escape_surrogates(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def parse_json_event(body: bytes) -> Event:
    """A ``text/event-json`` body: one JSON object, the event body in ``_body``.

    Decoded by orjson (about 2.4x the standard library on FreeSWITCH's events,
    most of the ingest cost). FreeSWITCH's JSON encoder copies bytes through
    unchecked, so a Latin-1 caller name arrives as invalid UTF-8 inside a JSON
    string; orjson refuses that, and such a body takes the standard library's
    path, where those bytes become ``\\xNN`` in the value, exactly as the plain
    format gives them."""
    try:
        data, dirty = orjson.loads(body), False
    except orjson.JSONDecodeError:
        data, dirty = _loads_lenient(body)
    if not isinstance(data, dict):
        raise ProtocolError("event-json body is not a JSON object")
    text_body = data.pop("_body", "")
    headers = data  # JSON keys are strings; most values too: convert only the others
    for key, value in data.items():
        if type(value) is not str:
            headers[key] = _json_value(value)
    body_text = text_body if isinstance(text_body, str) else str(text_body)
    if dirty:
        headers = {_escape_surrogates(k): ([_escape_surrogates(x) for x in v] if isinstance(v, list)
                                           else _escape_surrogates(v)) for k, v in headers.items()}
        body_text = _escape_surrogates(body_text)
    return Event(headers, body_text)


def _loads_lenient(body: bytes) -> tuple[object, bool]:
    try:
        text, dirty = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, dirty = body.decode("utf-8", "surrogateescape"), True
    try:
        return json.loads(text), dirty
    except ValueError as exc:
        raise ProtocolError(f"event-json body is not JSON: {exc}") from None


def parse_event(frame: Frame) -> Event:
    """The event carried by a ``text/event-plain`` or ``text/event-json`` frame."""
    if frame.content_type == "text/event-json":
        return parse_json_event(frame.body)
    if frame.content_type == "text/event-plain":
        return parse_plain_event(frame.body)
    raise ProtocolError(f"not an event frame: {frame.content_type!r}")


def is_event_frame(frame: Frame) -> bool:
    return frame.content_type in ("text/event-plain", "text/event-json")


def parse_capture(data: bytes) -> list[Event]:
    """Every event in a recorded byte stream, in order."""
    return [parse_event(f) for f in parse_frames(data) if is_event_frame(f)]

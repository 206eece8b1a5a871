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
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

import orjson

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
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


@dataclass(frozen=True, slots=True)
class Undecoded:
    """The raw event-json body of a partly decoded ``Event``, and the header
    names that were decoded (present or not)."""

    body: bytes
    names: frozenset[str]


def _parse_header_block(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise ProtocolError(f"header line without ':': {decode_text(line[:80])!r}")
        headers[decode_text(name.strip())] = decode_text(value.strip())
    return headers


class FrameParser:
    """Incremental framer: ``feed(bytes)`` returns the complete frames so far."""

    def __init__(self, max_header: int = MAX_HEADER_BYTES, max_body: int = MAX_BODY_BYTES):
        self._buf = bytearray()
        self._pos = 0  # consumed bytes at the front of _buf (compacted per feed)
        self._pending: dict[str, str] | None = None
        self._need = 0
        self.max_header = max_header
        self.max_body = max_body

    @property
    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> list[Frame]:
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data
        frames: list[Frame] = []
        while True:
            try:
                frame = self._next_frame()
            except ProtocolError as exc:
                raise ProtocolError(str(exc), frames) from None
            if frame is None:
                return frames
            frames.append(frame)

    def _next_frame(self) -> Frame | None:
        buf = self._buf
        if self._pending is None:
            # FreeSWITCH can send stray blank lines between frames; skip them.
            while self._pos < len(buf) and buf[self._pos] == 10:
                self._pos += 1
            end = buf.find(b"\n\n", self._pos)
            if end < 0:
                if len(buf) - self._pos > self.max_header:
                    raise ProtocolError(f"header block exceeds {self.max_header} bytes")
                return None
            if end - self._pos > self.max_header:
                raise ProtocolError(f"header block exceeds {self.max_header} bytes")
            headers = _parse_header_block(bytes(buf[self._pos:end]))
            self._pos = end + 2
            length = headers.get("Content-Length")
            if length is None:
                return Frame(headers)
            if not length.isdigit():
                raise ProtocolError(f"bad Content-Length {length[:40]!r}")
            self._need = int(length)
            if self._need > self.max_body:
                raise ProtocolError(f"Content-Length {self._need} exceeds {self.max_body} bytes")
            self._pending = headers
        if len(buf) - self._pos < self._need:
            return None
        body = bytes(buf[self._pos: self._pos + self._need])
        self._pos += self._need
        headers, self._pending = self._pending, None
        return Frame(headers, body)


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

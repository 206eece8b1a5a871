"""Decoding event-json bodies for only the headers a reader reads.

A FreeSWITCH channel event is ~8 KB of JSON with ~160 headers, most of them
channel variables the call tracker never looks at (SDP bodies, codec lists,
``variable_DP_MATCH``...). ``HeaderSelection`` decodes just the declared
names with msgspec, which validates and skips the rest without building
Python objects for it: about half the CPU of decoding the whole body with
orjson (docs/benchmarks.md, "Ingest against a bare greenswitch loop").

Nothing changes for the reader (``protocol.Event``): a declared header that
is absent reads as absent; any other name decodes the whole body first
(``Event.decode_all``), so an undeclared read costs time, never a wrong
value. A body this decoder would read differently from ``parse_json_event``
is handed to it instead: not valid JSON or not an object, invalid UTF-8 or
a lone surrogate in a declared value, a declared value that is not a string
or a list of strings (FreeSWITCH sends only those).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from msgspec import to_builtins

from .protocol import Event, Frame, Undecoded, parse_event, parse_json_event

BODY = "_body"  # where FreeSWITCH's JSON carries the event's own body


class HeaderSelection:
    """``parse_event(frame)``: like ``protocol.parse_event``, with event-json
    bodies decoded for ``names`` only."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(names) - {BODY}
        order = (BODY, *sorted(self.names))
        # Each declared name may be absent (UNSET: left out of the dict) or a
        # string or a list of strings; anything else fails validation.
        fields = [(f"h{i}", "str | list[str]", msgspec.UNSET) for i in range(len(order))]
        struct = msgspec.defstruct("DeclaredHeaders", fields, rename={f"h{i}": n for i, n in enumerate(order)})
        self._decoder = msgspec.json.Decoder(struct)

    def parse_event(self, frame: Frame) -> Event:
        if frame.content_type == "text/event-json":
            return self.parse_json_event(frame.body)
        return parse_event(frame)

    def parse_json_event(self, body: bytes) -> Event:
        try:
            headers = to_builtins(self._decoder.decode(body))  # the names present, as a dict
        except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError is a DecodeError
            return parse_json_event(body)  # its lenient path, its conversions or its ProtocolError
        return Event(headers, headers.pop(BODY, ""), Undecoded(body, self.names))

"""Decoding event-json bodies for only the headers a reader reads.

A FreeSWITCH channel event is ~8 KB of JSON with ~160 headers, most of them
channel variables the call tracker never looks at (SDP bodies, codec lists,
``variable_DP_MATCH``...). ``HeaderSelection`` decodes just the declared
names with msgspec, which validates and skips the rest without building
Python objects for it: about half the CPU of decoding the whole body with
orjson (docs/benchmarks.md, "Ingest against a bare greenswitch loop").

msgspec looks a JSON key up among the declared names starting after the
last one it matched, so the declared names are kept in the order FreeSWITCH
sends them: learned from the first event body, with one full decode.

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
import orjson
from msgspec import to_builtins

from .protocol import Event, Frame, Undecoded, parse_event, parse_json_event

BODY = "_body"  # where FreeSWITCH's JSON carries the event's own body


def _decoder(order: Iterable[str]) -> msgspec.json.Decoder:
    """Decodes the named headers, in this order of lookup, into a Struct.
    Each may be absent (UNSET: left out of ``to_builtins``' dict) or a string
    or a list of strings; anything else fails validation."""
    order = tuple(order)
    fields = [(f"h{i}", "str | list[str]", msgspec.UNSET) for i in range(len(order))]
    struct = msgspec.defstruct("DeclaredHeaders", fields, rename={f"h{i}": n for i, n in enumerate(order)})
    return msgspec.json.Decoder(struct)


def sent_order(names: frozenset[str], body: bytes) -> list[str]:
    """``names`` (and ``_body``) in the order of this event-json body's keys,
    those it lacks after them, sorted."""
    try:
        keys = orjson.loads(body)
    except orjson.JSONDecodeError:
        keys = {}
    wanted = names | {BODY}
    seen = [key for key in keys if key in wanted] if isinstance(keys, dict) else []
    return seen + sorted(wanted.difference(seen))


class HeaderSelection:
    """``parse_event(frame)``: like ``protocol.parse_event``, with event-json
    bodies decoded for ``names`` only."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(names) - {BODY}
        self._decoder = _decoder((BODY, *sorted(self.names)))
        self._ordered = False  # until the first event-json body gives FreeSWITCH's order

    def parse_event(self, frame: Frame) -> Event:
        if frame.content_type == "text/event-json":
            return self.parse_json_event(frame.body)
        return parse_event(frame)

    def parse_json_event(self, body: bytes) -> Event:
        if not self._ordered:
            self._ordered = True
            self._decoder = _decoder(sent_order(self.names, body))
        try:
            headers = to_builtins(self._decoder.decode(body))  # the names present, as a dict
        except (msgspec.DecodeError, UnicodeDecodeError):  # ValidationError is a DecodeError
            return parse_json_event(body)  # its lenient path, its conversions or its ProtocolError
        return Event(headers, headers.pop(BODY, ""), Undecoded(body, self.names))

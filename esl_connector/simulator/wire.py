"""FreeSWITCH Event Socket frames as bytes: what the simulator writes on the wire.

Pure functions, no I/O. Every layout here is copied from the real
FreeSWITCH 1.10.12 recordings in ``shared/fixtures/freeswitch`` and from
``mod_event_socket.c`` / ``switch_event.c``:

* ``auth/request`` and ``command/reply`` have no body;
* ``api/response``, ``text/disconnect-notice`` and ``text/rude-rejection``
  put ``Content-Type`` *before* ``Content-Length``;
* events put ``Content-Length`` *before* ``Content-Type`` (``listener_run``'s
  ``hbuf``), and their body is the serialized event:

  - plain (``switch_event_serialize``): ``Name: url-encoded value\\n`` per
    header, then either ``\\n`` or, with an event body, an inner
    ``Content-Length: n\\n\\n`` followed by the body (no trailing newline);
  - json (``switch_event_serialize_json`` + ``cJSON_PrintUnformatted``): one
    compact object, multi-value headers as arrays, then ``"Content-Length"``
    and ``"_body"`` when there is a body; no trailing newline.

Lengths are UTF-8 byte counts. FreeSWITCH never carries a header with an empty
value (``switch_event_add_header_string`` with ``""`` deletes the header), so
empty values and empty lists are left out in both formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Literal

HeaderValue = str | list[str]
# A dict, or (name, value) pairs: real events can repeat a header
# (CHANNEL_HANGUP_COMPLETE carries Hangup-Cause twice, CODEC repeats
# Channel-Write-Codec-Name/-Rate), which a dict cannot hold.
Headers = Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]]
EventFormat = Literal["plain", "json"]

DEFAULT_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
SHUTDOWN_NOTICE = "The system is being shut down.\n"
RUDE_REJECTION = "Access Denied, go away.\n"
NO_REPLY = "-ERR no reply\n"
ARRAY_PREFIX = "ARRAY::"
ARRAY_SEPARATOR = "|:"

# switch_utils.h SWITCH_URL_UNSAFE, plus every byte below 0x20 or above 0x7e,
# plus a "%" that is not already followed by two hex digits (see url_encode).
_URL_ESCAPE = re.compile(rb'[^\x20-\x7e]|[\r\n #&+:;<=>?@\[\\\]^`{|}"]|%(?![0-9A-Fa-f]{2})')


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def _escape(match: re.Match) -> bytes:
    return b"%%%02X" % match.group()[0]


def url_encode(value: str) -> str:
    """``switch_url_encode`` exactly, including its quirk: a ``%`` already
    followed by two hex digits is left as is (FreeSWITCH issue #85: it is
    "not double encoded"), so a literal ``%41`` in a value reaches a
    plain-event client as ``%41`` and decodes to ``A``. Any other ``%`` is
    sent as ``%25``. Non-ASCII text is escaped byte by byte (UTF-8)."""
    return _URL_ESCAPE.sub(_escape, _utf8(value)).decode("ascii")


def _frame(head: str, body: bytes = b"") -> bytes:
    return _utf8(head) + body


def auth_request() -> bytes:
    return b"Content-Type: auth/request\n\n"


def command_reply(reply_text: str, extra_headers: Mapping[str, str] | None = None) -> bytes:
    """``Content-Type: command/reply`` + ``Reply-Text`` (+ extra headers, in order)."""
    lines = ["Content-Type: command/reply", f"Reply-Text: {reply_text}"]
    lines += [f"{name}: {value}" for name, value in (extra_headers or {}).items()]
    return _frame("\n".join(lines) + "\n\n")


def _sized(content_type: str, body: str) -> bytes:
    data = _utf8(body)
    return _frame(f"Content-Type: {content_type}\nContent-Length: {len(data)}\n\n", data)


def api_response(body: str) -> bytes:
    """The reply to ``api``. The body is sent as given (FreeSWITCH replaces an
    empty one by ``NO_REPLY`` before framing; the server does that)."""
    return _sized("api/response", body)


def disconnect_notice(body: str = DEFAULT_GOODBYE) -> bytes:
    """Sent before FreeSWITCH closes an inbound connection (67-byte default body)."""
    return _sized("text/disconnect-notice", body)


def rude_rejection(body: str = RUDE_REJECTION) -> bytes:
    """Sent instead of ``auth/request`` to a client refused by the ACL."""
    return _sized("text/rude-rejection", body)


def _present(headers: Headers) -> list[tuple[str, HeaderValue]]:
    """Headers as FreeSWITCH holds them: no empty values, no stale Content-Length."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(n, v) for n, v in items if n != "Content-Length" and v not in ("", [])]


def plain_event_body(headers: Headers, body: str = "") -> bytes:
    """``switch_event_serialize(event, &str, SWITCH_TRUE)``."""
    lines = []
    for name, value in _present(headers):
        if isinstance(value, list):
            value = ARRAY_PREFIX + ARRAY_SEPARATOR.join(value)
        lines.append(f"{name}: {url_encode(value)}\n")
    data = _utf8(body)
    tail = f"Content-Length: {len(data)}\n\n" if data else "\n"
    return _utf8("".join(lines) + tail) + data


def _json(value: HeaderValue) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_event_body(headers: Headers, body: str = "") -> bytes:
    """``switch_event_serialize_json``: cJSON escapes only ``"``, ``\\`` and
    control characters; ``/`` and non-ASCII text stay literal (UTF-8). A
    repeated header is a repeated key, as FreeSWITCH sends it."""
    pairs = _present(headers)
    if body:
        pairs += [("Content-Length", str(len(_utf8(body)))), ("_body", body)]
    members = ",".join(f"{_json(name)}:{_json(value)}" for name, value in pairs)
    return _utf8("{" + members + "}")


def encode_event(headers: Headers, body: str = "", fmt: EventFormat = "plain") -> bytes:
    """One whole event frame in the session's format.

    A ``Content-Length`` key in ``headers`` (as ``protocol.parse_event`` leaves
    it for events with a body) is ignored: it is recomputed from ``body``.
    """
    if fmt == "plain":
        data = plain_event_body(headers, body)
    elif fmt == "json":
        data = json_event_body(headers, body)
    else:
        raise ValueError(f"event format must be 'plain' or 'json', not {fmt!r}")
    return _frame(f"Content-Length: {len(data)}\nContent-Type: text/event-{fmt}\n\n", data)

"""Which events one Event Socket session receives, as ``mod_event_socket`` decides.

``Subscription`` holds a session's ``event`` / ``nixevent`` / ``noevents`` /
``filter`` / ``myevents`` state and answers ``wants(event)``; its methods take
the command's argument text and return the ``Reply-Text`` FreeSWITCH sends.
``PublishedEvent`` is one event on its way out: it is encoded at most once
per format, however many sessions receive it.

Semantics copied from ``mod_event_socket.c`` (``parse_command`` and
``event_handler``), including its corners: after ``CUSTOM`` every further
word is a subclass; ``nixevent X`` after ``ALL`` keeps everything but X;
filters compare case-insensitively, a value starting with ``/`` is a regular
expression, ``-value`` excludes, and once any filter exists an event must
match a positive one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from .wire import ARRAY_PREFIX, ARRAY_SEPARATOR, Headers, encode_event

log = logging.getLogger(__name__)

# libs/esl/src/esl_event.c EVENT_NAMES (the switch_event_types_t order), minus CLONE.
EVENT_NAMES = frozenset((
    "CUSTOM", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING",
    "CHANNEL_PARK", "CHANNEL_UNPARK", "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE",
    "CHANNEL_UUID", "API", "LOG", "INBOUND_CHAN", "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN",
    "PUBLISH", "UNPUBLISH", "TALK", "NOTALK", "SESSION_CRASH", "MODULE_LOAD", "MODULE_UNLOAD",
    "DTMF", "MESSAGE", "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT", "PRESENCE_PROBE",
    "MESSAGE_WAITING", "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB", "DETECTED_SPEECH",
    "DETECTED_TONE", "PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE", "DEL_SCHEDULE",
    "EXE_SCHEDULE", "RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE", "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA",
    "GENERAL", "COMMAND", "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED",
    "SEND_INFO", "RECV_INFO", "RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT",
    "RECORD_START", "RECORD_STOP", "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE",
    "SOCKET_DATA", "MEDIA_BUG_START", "MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY",
    "CONFERENCE_DATA", "CALL_SETUP_REQ", "CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE",
    "TEXT", "SHUTDOWN_REQUESTED", "ALL",
))
EVERY_EVENT = EVENT_NAMES - {"ALL"}
# What "myevents <uuid>" turns on (mod_event_socket.c).
MYEVENTS_NAMES = frozenset((
    "CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE", "CHANNEL_DATA",
    "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_OUTGOING",
    "CHANNEL_PARK", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE",
    "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK", "DETECTED_SPEECH", "DTMF", "NOTALK", "TALK",
))
FORMATS = ("plain", "json")


def event_type(word: str) -> str | None:
    """``switch_name_event``: a known name, any case, optionally ``SWITCH_EVENT_``-prefixed."""
    name = word.upper()
    if len(name) > 13 and name[13:] in EVENT_NAMES:
        return name[13:]
    return name if name in EVENT_NAMES else None


class PublishedEvent:
    """One event being delivered: headers (a dict or ordered pairs), body, and
    its frames, encoded lazily and once per format."""

    __slots__ = ("_frames", "_lookup", "body", "headers")

    def __init__(self, headers: Headers, body: str = ""):
        self.headers = headers if isinstance(headers, Mapping) else list(headers)
        self.body = body
        self._frames: dict[str, bytes] = {}
        self._lookup: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        """``switch_event_get_header``: first match, name case-insensitive;
        a multi-value header reads as its ``ARRAY::a|:b`` form."""
        if self._lookup is None:
            items = self.headers.items() if isinstance(self.headers, Mapping) else self.headers
            self._lookup = {}
            for key, value in items:
                if isinstance(value, list):
                    value = ARRAY_PREFIX + ARRAY_SEPARATOR.join(value)
                self._lookup.setdefault(key.lower(), value)
        return self._lookup.get(name.lower())

    def frame(self, fmt: str) -> bytes:
        data = self._frames.get(fmt)
        if data is None:
            data = self._frames[fmt] = encode_event(self.headers, self.body, fmt)
        return data


@lru_cache(maxsize=256)
def _compile(expression: str) -> re.Pattern | None:
    """``switch_regex_perform``'s ``/pattern/flags`` form (flags ``i`` and ``s``)."""
    pattern, slash, opts = expression[1:].rpartition("/")
    if not slash:
        return None
    flags = (re.IGNORECASE if "i" in opts else 0) | (re.DOTALL if "s" in opts else 0)
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        log.warning("filter regex %r does not compile: %s", expression, exc)
        return None


def _filter_matches(value: str, raw: str, comp_to: str) -> bool:
    if raw.startswith("/"):
        regex = _compile(comp_to)
        return bool(regex and regex.search(value))
    return value.lower() == comp_to.lower()


@dataclass
class Subscription:
    fmt: str = "plain"
    enabled: bool = False  # LFLAG_EVENTS
    events: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    my_uuid: str | None = None

    def subscribe(self, words: list[str]) -> str:
        """``event [plain|json] NAME... [CUSTOM subclass...]`` (adds to the set)."""
        keys = 0
        custom = False
        for index, word in enumerate(words):
            if index == 0 and word.lower() in ("plain", "json", "xml"):
                if word.lower() == "xml":
                    return "-ERR the simulator sends plain or json events, not xml"
                self.fmt = word.lower()
            elif custom:
                self.subclasses.add(word)
            elif (name := event_type(word)) is not None:
                keys += 1
                if name == "ALL":
                    self.events |= EVERY_EVENT
                self.events.add(name)
                custom = custom or name == "CUSTOM"
        if not keys:
            return "-ERR no keywords supplied"
        self.enabled = True
        return f"+OK event listener enabled {self.fmt}"

    def unsubscribe(self, words: list[str]) -> str:
        """``nixevent NAME... [CUSTOM subclass...]``."""
        keys = 0
        custom = False
        for word in words:
            if custom:
                self.subclasses.discard(word)
            elif (name := event_type(word)) is not None:
                keys += 1
                if name == "CUSTOM":
                    custom = True
                elif name == "ALL":
                    self.events.clear()
                else:
                    if "ALL" in self.events:
                        self.events = set(EVERY_EVENT)
                    self.events.discard(name)
        if not keys:
            return "-ERR no keywords supplied"
        self.enabled = True
        return "+OK events nixed"

    def clear(self) -> str:
        """``noevents`` (filters stay, as in FreeSWITCH)."""
        if not self.enabled:
            return "-ERR not listening for events"
        self.enabled = False
        self.events.clear()
        self.subclasses.clear()
        return "+OK no longer listening for events"

    def filter(self, text: str) -> str:
        """``filter [add] <header> <value>`` / ``filter delete <header> [<value>]|all``."""
        name, sep, value = text.lstrip(" ").partition(" ")
        if name.lower() == "delete" and sep:
            name, sep, value = value.partition(" ")
            if name.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [
                    (n, v) for n, v in self.filters
                    if not (n.lower() == name.lower() and (not value or v == value))
                ]
            return f"+OK filter deleted. [{name}][{value}]"
        if not sep:
            return "-ERR invalid syntax"
        if name.lower() == "add":
            name, sep, value = value.partition(" ")
            if not sep:
                return f"+OK filter added. [{name}]=[(null)]"
        if value:
            self.filters.append((name, value))
        else:  # switch_event_add_header_string with "" deletes the header
            self.filters = [(n, v) for n, v in self.filters if n.lower() != name.lower()]
        return f"+OK filter added. [{name}]=[{value}]"

    def follow(self, text: str) -> str:
        """``myevents <uuid> [plain|json]``: that channel's events only."""
        if self.my_uuid is not None:
            return "-ERR aready enabled."
        uuid, _, fmt = text.strip().partition(" ")
        if fmt.lower() in FORMATS:
            self.fmt = fmt.lower()
        self.my_uuid = uuid
        self.events |= MYEVENTS_NAMES
        self.enabled = True
        return "+OK Events Enabled"

    def wants(self, event: PublishedEvent) -> bool:
        if not self.enabled:
            return False
        if "ALL" not in self.events:
            name = (event.header("Event-Name") or "").upper()
            if name not in self.events:
                return False
            subclass = event.header("Event-Subclass")
            if name == "CUSTOM" and subclass and subclass not in self.subclasses:
                return False
        if self.filters and not self._passes_filters(event):
            return False
        return self.my_uuid is None or event.header("Unique-ID") == self.my_uuid

    def _passes_filters(self, event: PublishedEvent) -> bool:
        send = False
        for name, raw in self.filters:
            value = event.header(name)
            if value is None:
                continue
            positive, comp_to = True, raw
            while comp_to and comp_to[0] in "+- ":
                if comp_to[0] != " ":
                    positive = comp_to[0] == "+"
                comp_to = comp_to[1:]
            if send and positive:
                continue
            if _filter_matches(value, raw, comp_to):
                if not positive:
                    return False
                send = True
        return send

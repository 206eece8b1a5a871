"""The PBX core: the simulated switch's state and its event emission.

``PbxCore`` holds what the command handlers and call flows act on: the
directory (extensions, DIDs, far ends), the live channels and calls, the
simulated clock, the Core-UUID and the ``Event-Sequence`` counter. Every
event leaves through ``fire`` / ``leg_event`` and the ``emit`` callback it is
given (``EventSocketServer.publish`` in production, a list's
``append``-like function in tests).

This is the bottom of the PBX: ``calls.py``, ``flows.py``, ``registration.py``,
``api.py`` and the rest import it and it imports none of them (a call it runs
is only a ``RunningCall``). ``pbx.py`` builds the full ``Pbx`` on top.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

import gevent
import gevent.pool

from . import cdr
from .legs import Leg, channel_headers, new_uuid
from .model import Extension, FarEnd, SimClock

log = logging.getLogger(__name__)

Emit = Callable[..., None]
# Event-Calling-File/Function/Line-Number as FreeSWITCH 1.10.12 reports them.
CALLING = {
    "CHANNEL_CREATE": ("switch_core_state_machine.c", "switch_core_session_run", "626"),
    "CHANNEL_ORIGINATE": ("switch_core_state_machine.c", "switch_core_session_run", "632"),
    "CHANNEL_OUTGOING": ("switch_core_session.c", "switch_core_session_outgoing_channel", "768"),
    "CHANNEL_STATE": ("switch_channel.c", "switch_channel_perform_set_running_state", "2142"),
    "CHANNEL_CALLSTATE": ("switch_channel.c", "switch_channel_perform_set_callstate", "301"),
    "CHANNEL_PROGRESS": ("switch_channel.c", "switch_channel_perform_mark_ring_ready_value", "3505"),
    "CHANNEL_PROGRESS_MEDIA": ("switch_channel.c", "switch_channel_perform_mark_pre_answered", "3620"),
    "CHANNEL_ANSWER": ("switch_channel.c", "switch_channel_perform_mark_answered", "3846"),
    "CHANNEL_BRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1689"),
    "CHANNEL_UNBRIDGE": ("switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", "1842"),
    "CHANNEL_EXECUTE": ("switch_core_session.c", "switch_core_session_exec", "2944"),
    "CHANNEL_EXECUTE_COMPLETE": ("switch_core_session.c", "switch_core_session_exec", "2967"),
    "CHANNEL_HANGUP": ("switch_channel.c", "switch_channel_perform_hangup", "3445"),
    "CHANNEL_HANGUP_COMPLETE": ("switch_core_state_machine.c", "switch_core_session_reporting_state", "943"),
    "CHANNEL_DESTROY": ("switch_core_session.c", "switch_core_session_perform_destroy", "1666"),
    "CODEC": ("switch_core_codec.c", "switch_core_session_set_real_read_codec", "168"),
    "CALL_UPDATE": ("switch_channel.c", "switch_channel_flip_cid", "3277"),
    "PRESENCE_IN": ("switch_channel.c", "switch_channel_perform_presence", "805"),
    "RECORD_START": ("switch_ivr_async.c", "record_callback", "1357"),
    "RECORD_STOP": ("switch_ivr_async.c", "record_callback", "1545"),
    "MEDIA_BUG_START": ("switch_core_media_bug.c", "switch_core_media_bug_add", "1005"),
    "MEDIA_BUG_STOP": ("switch_core_media_bug.c", "switch_core_media_bug_close", "1221"),
    "CUSTOM": ("sofia_reg.c", "sofia_reg_handle_register_token", "1810"),
}
DEFAULT_CALLING = ("switch_core.c", "switch_core_session_ctl", "0")


class RunningCall(Protocol):
    """A call the core runs and tracks, as the core and the api commands see
    it (``calls.Call`` is one)."""

    greenlet: gevent.Greenlet | None
    legs: dict[str, Leg]

    @property
    def uuids(self) -> dict[str, str]: ...

    @property
    def done(self) -> bool: ...

    def kill(self, cause: str = "NORMAL_CLEARING") -> None: ...

    def run_safely(self) -> None: ...


CallT = TypeVar("CallT", bound=RunningCall)


class PbxCore:
    """The state of a FreeSWITCH 1.10.12 look-alike with a directory, a PSTN
    trunk and DIDs, and the events it emits.

    ``emit(headers, body="")`` receives every event, in order, with a strictly
    increasing ``Event-Sequence``."""

    def __init__(self, emit: Emit, extensions: Iterable[str] = ("101", "102", "103"),
                 speed: float = 1.0, domain: str = "127.0.0.1", hostname: str | None = None,
                 dids: dict[str, list[str]] | None = None, gateway: str = "pstn",
                 outbound_caller_id: str = "0281234567", start_time: float | None = None):
        self._emit = emit
        self.clock = SimClock(speed, start_time)
        self.domain = domain
        self.hostname = hostname or socket.gethostname()
        self.gateway = gateway
        self.outbound_caller_id = outbound_caller_id
        self.core_uuid = new_uuid()
        self.started_at = self.clock.now()
        self.extensions: dict[str, Extension] = {}
        self.dids: dict[str, list[str]] = dict(dids or {"19001234": ["101"]})
        self.far_end: dict[str, FarEnd] = {}
        self.default_far_end = FarEnd()
        self.channels: dict[str, Leg] = {}
        self.calls: list[RunningCall] = []
        self.sessions_since_startup = 0
        self.peak_sessions = 0
        self._sequence = 0
        self._greenlets = gevent.pool.Group()
        self.cdr_outputs: list = []  # mod_json_cdr stand-ins (simulator.cdr)
        for number in extensions:
            self.add_extension(number)

    # -- events --------------------------------------------------------
    def base_headers(self, event_name: str, ts_us: int | None = None) -> dict[str, str]:
        """The headers FreeSWITCH puts first on every event (also used by the
        server for HEARTBEAT, BACKGROUND_JOB and API)."""
        ts = self.clock.now_us() if ts_us is None else ts_us
        self._sequence += 1
        secs = ts // 1_000_000
        file, func, line = CALLING.get(event_name, DEFAULT_CALLING)
        return {
            "Event-Name": event_name, "Core-UUID": self.core_uuid,
            "FreeSWITCH-Hostname": self.hostname, "FreeSWITCH-Switchname": self.hostname,
            "FreeSWITCH-IPv4": "127.0.0.1", "FreeSWITCH-IPv6": "::1",
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(secs)),
            "Event-Date-GMT": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(secs)),
            "Event-Date-Timestamp": str(ts), "Event-Calling-File": file,
            "Event-Calling-Function": func, "Event-Calling-Line-Number": line,
            "Event-Sequence": str(self._sequence),
        }

    def fire(self, event_name: str, headers: dict, body: str = "", ts_us: int | None = None,
             subclass: str = "") -> None:
        base = self.base_headers(event_name, ts_us)
        if subclass:
            base = {"Event-Subclass": subclass, **base}
        # FreeSWITCH never sends a header with an empty value.
        merged = {k: v for k, v in {**base, **headers}.items() if v != "" and v != []}
        self._emit(merged, body)

    def leg_event(self, leg: Leg, event_name: str, ts_us: int, before: dict | None = None,
                  after: dict | None = None, with_vars: bool = True) -> None:
        """A channel event: base headers, ``before``, the channel block, ``after``."""
        headers = dict(before or {})
        headers.update(channel_headers(leg, with_vars))
        headers.update(after or {})
        self.fire(event_name, headers, ts_us=ts_us)

    # -- directory -----------------------------------------------------
    def add_extension(self, number: str, **settings) -> Extension:
        port = 5110 + 10 * len(self.extensions)
        ext = Extension(number, domain=self.domain, network_port=port,
                        contact_tag="0x%012x" % (0x558E354CB600 + 0x1000 * len(self.extensions)))
        self.extensions[number] = ext
        self.configure(number, **settings)
        return ext

    def configure(self, number: str, **settings) -> Extension:
        """Change an extension's behaviour: ``behaviour``, ``answer_after``,
        ``reject_after``, ``talk_time``, ``baresip_contact``, ``user_agent``."""
        ext = self.extension(number)
        for name, value in settings.items():
            if not hasattr(ext, name):
                raise TypeError(f"unknown extension setting {name!r}")
            setattr(ext, name, value)
        return ext

    def extension(self, number: str) -> Extension:
        try:
            return self.extensions[number]
        except KeyError:
            raise KeyError(f"no extension {number!r}") from None

    def set_far_end(self, number: str | None = None, **settings) -> FarEnd:
        """How an external number behaves (``number=None``: every number)."""
        far = FarEnd(**settings)
        if number is None:
            self.default_far_end = far
        else:
            self.far_end[number] = far
        return far

    # -- calls ---------------------------------------------------------
    def _start(self, call: CallT) -> CallT:
        """Run ``call`` in the PBX's greenlet group; returns it."""
        self.calls.append(call)
        call.greenlet = self._greenlets.spawn(call.run_safely)
        return call

    def spawn(self, func, *args):
        return self._greenlets.spawn(func, *args)

    def hupall(self, cause: str = "MANAGER_REQUEST") -> int:
        live = [c for c in self.calls if not c.done]
        for call in live:
            call.kill(cause)
        return len(live)

    def add_cdr_output(self, output) -> None:
        """``output(document, is_b_leg)`` gets each leg's CDR at CS_REPORTING
        (``simulator.cdr.CdrFiles`` / ``CdrPoster``, or any callable)."""
        self.cdr_outputs.append(output)

    def report_cdr(self, leg) -> None:
        if not self.cdr_outputs:
            return
        document = cdr.cdr_document(leg, self.core_uuid, self.hostname)
        is_b = leg.other_type == "originator"
        for output in self.cdr_outputs:
            output(document, is_b)

    def restart(self) -> None:
        """Like a FreeSWITCH restart: every call is dropped, a new Core-UUID."""
        self.stop()
        self.channels.clear()
        self.calls.clear()
        self.core_uuid = new_uuid()
        self.started_at = self.clock.now()
        self._greenlets = gevent.pool.Group()

    def stop(self) -> None:
        self._greenlets.kill(block=True, timeout=5)

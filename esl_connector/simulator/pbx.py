"""The simulated PBX: the core plus what drives it (calls, registrations, api).

``Pbx`` is the ``PbxCore`` (state, clock, event emission; ``core.py``) with
its command handlers wired in: call flows from ``flows.py`` and
``originate.py``, registration events from ``registration.py``, api command
answers from ``api.py``. Those modules import the core, never this module;
this is the only place that puts them together.
"""

from __future__ import annotations

from .api import dispatch as dispatch_api
from .calls import Call
from .core import PbxCore
from .flows import InboundCall, OutboundCall
from .loopback import LoopbackInboundCall
from .model import FarEnd
from .originate import InternalCall
from .registration import expire as expire_registration
from .registration import register as register_extension
from .registration import unregister as unregister_extension


class Pbx(PbxCore):
    """A FreeSWITCH 1.10.12 look-alike with a directory, a PSTN trunk and DIDs.

    ``emit(headers, body="")`` receives every event, in order, with a strictly
    increasing ``Event-Sequence``. ``api(command, args)`` answers api/bgapi
    commands like FreeSWITCH (it may block: ``originate`` returns when the
    agent answers)."""

    # -- registrations -------------------------------------------------
    def register(self, number: str, expires: int = 600) -> None:
        register_extension(self, self.extension(number), expires)

    def unregister(self, number: str) -> None:
        unregister_extension(self, self.extension(number))

    def expire(self, number: str) -> None:
        expire_registration(self, self.extension(number))

    def register_all(self) -> None:
        for number in self.extensions:
            self.register(number)

    # -- calls ---------------------------------------------------------
    def inbound_call(self, caller: str = "0904824242", did: str = "19001234",
                     ring: list[str] | None = None, **options) -> Call:
        """A PSTN caller dials ``did``; the DID rings ``ring`` (default: the
        DID's ring list). Options: ``caller_name``, ``call_timeout`` (10),
        ``cancel_after`` (caller gives up after N s of ringing), ``hangup_by``
        ("agent" | "caller"), ``talk_time`` (default: the extension's),
        ``via_loopback`` (reach the DID through ``loopback/<did>/public``)."""
        targets = list(ring or self.dids.get(did) or [])
        flow = LoopbackInboundCall if options.pop("via_loopback", False) else InboundCall
        return self._start(flow(self, caller, did, targets, **options))

    def outbound_call(self, extension: str, number: str, record: bool = False,
                      far_end: FarEnd | None = None, **options) -> Call:
        """Extension dials an external number through the gateway."""
        far = far_end or self.far_end.get(number, self.default_far_end)
        return self._start(OutboundCall(self, extension, number, record, far, **options))

    def internal_call(self, caller: str, callee: str, **options) -> Call:
        """Extension-to-extension call (dialplan ``bridge user/<callee>``, call_timeout 15)."""
        return self._start(InternalCall(self, caller, callee, **options))

    # -- api -----------------------------------------------------------
    def api(self, command: str, args: str = "") -> str:
        """Answer an ``api``/``bgapi`` command like FreeSWITCH 1.10.12."""
        return dispatch_api(self, command.strip(), args.strip())

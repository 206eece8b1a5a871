"""Named scenarios mirroring the recordings in fixtures/freeswitch (plus a ring group).

``run(pbx, name)`` starts one in a greenlet and returns a ``ScenarioRun``
(``wait()``, ``result``: the calls' leg UUIDs). Each scenario first makes the
extensions it needs registered (the recordings had them registered before the
capture began; this emits sofia::register events). Every docstring says what
a CRM connector should produce for it.
"""

from __future__ import annotations

from collections.abc import Callable

import gevent

from .model import ANSWER, BUSY, NO_ANSWER
from .pbx import Pbx

CLICK_TO_CALL_UUID = "8399d83b-ff16-47a1-b919-9de7bbec961a"


def _ready(pbx: Pbx, *numbers: str, **settings) -> None:
    for number in numbers:
        pbx.configure(number, **settings)
        if not pbx.extension(number).registered:
            pbx.register(number)


def register_unregister(pbx: Pbx) -> dict:
    """101 registers, stays 3 s, unregisters.
    CRM: extension 101 goes idle (online), then offline. No call events."""
    if pbx.extension("101").registered:
        pbx.unregister("101")
    pbx.register("101")
    pbx.clock.sleep(3)
    pbx.unregister("101")
    return {}


def inbound_answered(pbx: Pbx) -> dict:
    """0904824242 calls DID 19001234 -> 101 rings 2.5 s, answers, talks 3 s, hangs up.
    CRM: one incoming_call (phone 0904824242, extension 101), then a call log
    ANSWERED, billsec 3, duration ~6 (5-6: epoch-second rounding)."""
    _ready(pbx, "101", behaviour=ANSWER, answer_after=2.5, talk_time=3.0)
    call = pbx.inbound_call(caller="0904824242", caller_name="Customer", did="19001234", ring=["101"])
    call.wait(None)
    return call.uuids


def inbound_no_answer(pbx: Pbx) -> dict:
    """101 rings and never answers; the DID's call_timeout (10 s) expires.
    CRM: incoming_call for 101, then a call log NO ANSWER, billsec 0, duration 10
    (agent leg NO_ANSWER, DID leg NORMAL_CLEARING with DIALSTATUS=NOANSWER)."""
    _ready(pbx, "101", behaviour=NO_ANSWER)
    call = pbx.inbound_call(caller="0904824242", caller_name="Customer", did="19001234",
                            ring=["101"], call_timeout=10)
    call.wait(None)
    return call.uuids


def inbound_caller_cancel(pbx: Pbx) -> dict:
    """The caller hangs up after 5 s of ringing.
    CRM: incoming_call for 101, then a call log NO ANSWER, billsec 0, duration 5
    (both legs ORIGINATOR_CANCEL)."""
    _ready(pbx, "101", behaviour=NO_ANSWER)
    call = pbx.inbound_call(caller="0904824242", caller_name="Customer", did="19001234",
                            ring=["101"], cancel_after=5)
    call.wait(None)
    return call.uuids


def inbound_busy(pbx: Pbx) -> dict:
    """101 rejects after 2 s (486 Busy Here).
    CRM: incoming_call for 101, then a call log BUSY, billsec 0, duration 2."""
    _ready(pbx, "101", behaviour=BUSY, reject_after=2.0)
    call = pbx.inbound_call(caller="0904824242", caller_name="Customer", did="19001234", ring=["101"])
    call.wait(None)
    return call.uuids


def outbound_from_extension(pbx: Pbx) -> dict:
    """102 dials 0911222333; the far end answers after 1 s, talks 3 s, hangs up.
    CRM: one outgoing_call (phone 0911222333, extension 102), then a call log
    ANSWERED, billsec 3, duration ~4."""
    _ready(pbx, "102")
    pbx.set_far_end("0911222333", answer_after=1.0, talk_time=3.0)
    call = pbx.outbound_call("102", "0911222333")
    call.wait(None)
    return call.uuids


def recording(pbx: Pbx) -> dict:
    """102 dials 90911222333 (record_session, then the gateway); after answer an
    ``uuid_record ... start <uuid>.api.wav`` adds a second recording.
    CRM: outgoing_call for 102, call log ANSWERED billsec 3 with the recording
    path(s) /srv/pbx/fs/recordings/<uuid>.wav (and .api.wav)."""
    _ready(pbx, "102")
    pbx.set_far_end("0911222333", answer_after=1.0, talk_time=3.0)
    call = pbx.outbound_call("102", "0911222333", record=True)
    while "gateway" not in call.legs or not call.legs["caller"].answered:
        if call.wait(0.005):
            break
    uuid = call.legs["caller"].uuid
    pbx.api("uuid_record", f"{uuid} start /srv/pbx/fs/recordings/{uuid}.api.wav")
    call.wait(None)
    return call.uuids


def click_to_call(pbx: Pbx) -> dict:
    """``originate`` user/101 then &bridge to 0904824242; 101 answers after 2 s, the
    customer after 1 s more and hangs up after 3 s.
    CRM: click-to-call for 101 / 0904824242 with userfield ORDER-123; the api
    answers ``+OK <origination_uuid>`` when 101 answers; call log ANSWERED,
    agent leg billsec 4."""
    _ready(pbx, "101", behaviour=ANSWER, answer_after=2.0)
    pbx.set_far_end("0904824242", answer_after=1.0, talk_time=3.0)
    reply = pbx.api("originate", "{origination_uuid=%s,crm_userfield=ORDER-123,"
                    "origination_caller_id_number=0904824242,origination_caller_id_name=Customer,"
                    "originate_timeout=20}user/101 &bridge({origination_caller_id_number=0281234567}"
                    "sofia/gateway/pstn/0904824242)" % CLICK_TO_CALL_UUID)
    call = pbx.calls[-1]
    call.wait(None)
    return {**call.uuids, "reply": reply}


def ring_group(pbx: Pbx) -> dict:
    """DID 19001234 rings 101, 102 and 103 at once; 102 answers after 2 s,
    talks 3 s. 101 and 103 get LOSE_RACE.
    CRM: incoming_call for each of 101, 102, 103, then one call log ANSWERED
    for 102, billsec 3."""
    _ready(pbx, "101", behaviour=NO_ANSWER)
    _ready(pbx, "102", behaviour=ANSWER, answer_after=2.0, talk_time=3.0)
    _ready(pbx, "103", behaviour=NO_ANSWER)
    call = pbx.inbound_call(caller="0904824242", caller_name="Customer", did="19001234",
                            ring=["101", "102", "103"])
    call.wait(None)
    return call.uuids


# Caller IDs a carrier or an unauthenticated SIP caller may present.
PLUS84_CALLER = "+84904824242"
HOSTILE_CALLER = "0904\nvariable_crm_userfield: HACKED\nvariable_dialed_user: 999"
ANONYMOUS_CALLER = "anonymous"


def _inbound_from(pbx: Pbx, caller: str, caller_name: str, **options) -> dict:
    _ready(pbx, "101", behaviour=ANSWER, answer_after=2.5, talk_time=3.0)
    call = pbx.inbound_call(caller=caller, caller_name=caller_name, did="19001234", ring=["101"], **options)
    call.wait(None)
    return call.uuids


def inbound_plus84(pbx: Pbx) -> dict:
    """As inbound_answered, but the carrier presents the caller as +84904824242.
    CRM: phone 0904824242 for a customer whose phone_prefixes rewrite +84 -> 0
    (+84904824242 without prefixes); the connector's call row keeps +84904824242."""
    return _inbound_from(pbx, PLUS84_CALLER, "Customer")


def inbound_hostile_caller(pbx: Pbx) -> dict:
    """As inbound_answered, from a SIP caller whose From user carries newlines
    and forged header lines (sent URL-encoded in plain events, as FreeSWITCH does).
    CRM: extension 101, userfield "", phone = the customer's phone_placeholder
    ("" by default); a warning with the raw value in the connector's log."""
    return _inbound_from(pbx, HOSTILE_CALLER, HOSTILE_CALLER)


def inbound_anonymous(pbx: Pbx) -> dict:
    """As inbound_answered, from a caller who withholds the number (``anonymous``).
    CRM: phone = the customer's phone_placeholder ("" by default)."""
    return _inbound_from(pbx, ANONYMOUS_CALLER, "Anonymous")


def inbound_via_loopback(pbx: Pbx) -> dict:
    """0904824242 reaches DID 19001234 through ``loopback/19001234/public`` (a
    dialer's originate): legs loopback/19001234-a (first leg, destination the
    DID), loopback/19001234-b, then 101's leg showing 0904824242.
    CRM: incoming_call and call log with phone 0904824242 (not the DID), ANSWERED."""
    return _inbound_from(pbx, "0904824242", "Customer", via_loopback=True)


SCENARIOS: dict[str, Callable[[Pbx], dict]] = {f.__name__: f for f in (
    register_unregister, inbound_answered, inbound_no_answer, inbound_caller_cancel,
    inbound_busy, outbound_from_extension, recording, click_to_call, ring_group,
    inbound_plus84, inbound_hostile_caller, inbound_anonymous, inbound_via_loopback)}


class ScenarioRun:
    """A scenario running in its own greenlet."""

    def __init__(self, pbx: Pbx, name: str):
        if name not in SCENARIOS:
            raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
        self.name = name
        self.greenlet = gevent.spawn(SCENARIOS[name], pbx)

    def wait(self, timeout: float | None = 10.0) -> bool:
        self.greenlet.join(timeout)
        return self.greenlet.ready()

    @property
    def result(self) -> dict:
        return self.greenlet.get(block=False)


def run(pbx: Pbx, name: str) -> ScenarioRun:
    return ScenarioRun(pbx, name)

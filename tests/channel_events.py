"""Hand-built FreeSWITCH channel events for tracker scenarios the recordings
do not cover (ring groups, transfers, auto-answer, reconnects). Only the
headers the real events carry (see the recordings) are used."""

from __future__ import annotations

import itertools
import uuid as uuidlib

from esl_connector.esl.protocol import Event

T0 = 1_795_641_000  # epoch seconds
_seq = itertools.count(1)


class Leg:
    def __init__(self, name, direction, callid=None, cid="", dest="", uid=None, **variables):
        self.uuid = uid or str(uuidlib.uuid4())
        self.callid = callid or self.uuid
        self.name, self.direction, self.cid, self.dest = name, direction, cid, dest
        self.variables = variables
        self.created = self.answered = 0

    def event(self, name, t, **extra) -> Event:
        headers = {
            "Event-Name": name, "Core-UUID": "core-1", "Event-Sequence": str(next(_seq)),
            "Event-Date-Timestamp": str(int((T0 + t) * 1_000_000)),
            "Event-Date-Local": "2026-11-25 21:00:%02d" % (int(t) % 60),
            "Unique-ID": self.uuid, "Channel-Name": self.name, "Call-Direction": self.direction,
            "Channel-Call-UUID": self.callid, "Caller-Caller-ID-Number": self.cid,
            "Caller-Destination-Number": self.dest,
            "Caller-Channel-Created-Time": str(int((T0 + self.created) * 1_000_000)),
            "Caller-Channel-Answered-Time": str(int((T0 + self.answered) * 1_000_000)) if self.answered else "0",
        }
        headers.update({f"variable_{k}": v for k, v in self.variables.items()})
        headers.update(extra)
        return Event(headers)

    def create(self, t):
        self.created = t
        return self.event("CHANNEL_CREATE", t)

    def ring(self, t):
        return self.event("CHANNEL_PROGRESS", t)

    def answer(self, t):
        self.answered = t
        return self.event("CHANNEL_ANSWER", t)

    def hangup(self, t, cause="NORMAL_CLEARING"):
        billsec = int(t) - int(self.answered) if self.answered else 0
        return self.event(
            "CHANNEL_HANGUP_COMPLETE", t, **{
                "Hangup-Cause": cause, "variable_hangup_cause": cause,
                "variable_start_epoch": str(T0 + int(self.created)),
                "variable_start_stamp": "2026-11-25 21:00:%02d" % int(self.created),
                "variable_answer_epoch": str(T0 + int(self.answered)) if self.answered else "0",
                "variable_end_epoch": str(T0 + int(t)), "variable_billsec": str(billsec),
            })


def trunk_leg(caller="0904824242", did="19001234"):
    return Leg(f"sofia/external/{caller}@10.0.0.1", "inbound", cid=caller, dest=did)


def agent_leg(parent, ext, domain="pbx.local"):
    return Leg(f"sofia/internal/{ext}-0xabc@192.0.2.10:5060", "outbound", callid=parent.callid,
               cid=parent.cid, dest=f"{ext}-0xabc", dialed_user=ext, dialed_domain=domain,
               presence_id=f"{ext}@{domain}", originator=parent.uuid)


def extension_caller(ext, dest, domain="pbx.local", **variables):
    return Leg(f"sofia/internal/{ext}@{domain}", "inbound", cid=ext, dest=dest,
               user_name=ext, domain_name=domain, presence_id=f"{ext}@{domain}", **variables)


def gateway_leg(parent, number):
    return Leg(f"sofia/external/{number}", "outbound", callid=parent.callid, cid="0281234567",
               dest=number, sip_gateway_name="pstn", originator=parent.uuid)

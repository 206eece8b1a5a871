"""Every event header the call tracker reads, so that the Event Socket side
can decode just these (``esl.selective``: ~8 KB of JSON per channel event,
of which the tracker needs ~50 short values).

A name missing here still reads right (the event is then decoded whole, at
several times the CPU); ``tests/test_event_headers.py`` replays every
recording and fails on any header read that is not listed.
"""

from __future__ import annotations

from collections.abc import Iterable

# Tracker.handle, CallTracker.handle/_locate, legs.event_time: every event.
EVENT = ("Event-Name", "Event-Subclass", "Unique-ID", "Event-Date-Timestamp", "Event-Date-Local")

# legs.leg_from_event, apply_answer, apply_hangup_complete; CallTracker._apply, _join_bridged.
CHANNEL = (
    "Channel-Call-UUID", "Channel-Name", "Call-Direction", "Caller-Caller-ID-Number",
    "Caller-Destination-Number", "Caller-Channel-Created-Time", "Caller-Channel-Answered-Time",
    "Hangup-Cause", "Record-File-Path", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID", "Other-Leg-Unique-ID",
)

# Channel variables (read as variable_<name>): legs.identify_extension,
# leg_from_event, PARENT_VARIABLES, apply_hangup_complete.
VARIABLES = (
    "dialed_user", "dialed_domain", "sip_gateway_name", "presence_id", "user_name", "domain_name",
    "sip_auth_username", "sip_auth_realm", "call_uuid", "direction",
    "originator", "cc_member_session_uuid", "other_loopback_leg_uuid",
    "hangup_cause", "start_epoch", "answer_epoch", "end_epoch", "start_stamp", "billsec",
)

# extensions.ExtensionTracker.handle_registration (sofia::register / unregister / expire).
REGISTRATION = (
    "username", "from-user", "user", "realm", "domain_name", "from-host", "host",
    "call-id", "contact", "expires", "user-agent", "network-ip", "network-port",
)

# originate_jobs.failed_originate (BACKGROUND_JOB; the job's result is the body).
JOB = ("Job-Command", "Job-Command-Arg")


def tracker_headers(captured_variables: Iterable[str]) -> frozenset[str]:
    """The names above, plus ``captured_variables`` (the userfield variables,
    the webphone header's ``sip_h_*`` and the others ``CallTracker`` keeps
    per leg, which depend on settings)."""
    variables = (*VARIABLES, *captured_variables)
    return frozenset((*EVENT, *CHANNEL, *REGISTRATION, *JOB, *(f"variable_{name}" for name in variables)))

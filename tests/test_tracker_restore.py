"""The tracker taken up from what storage committed (a restart at any point of
a recorded call): it derives no CRM event twice and misses none, and the
resync after it sorts restored calls into still live, ended while away, new."""

import json

import pytest

from esl_connector.calls.legs import LegEnd
from esl_connector.calls.tracker import Tracker
from esl_connector.esl.subscription import CHANNEL_EVENTS
from esl_connector.records import (
    CALL_LOG,
    END_CDR,
    END_LOST_TRACK,
    CallRecord,
    ExtensionRecord,
    TrackerSnapshot,
)

from recordings import events

SCENARIOS = ("inbound_answered", "inbound_no_answer", "inbound_caller_cancel", "inbound_busy",
             "outbound_from_extension", "click_to_call", "recording")


class Store:
    """What the StorageWriter keeps, reduced to what a restart reads back:
    the last version of each call (through JSON, as the database does) and
    of each extension."""

    def __init__(self):
        self.calls, self.extensions, self.crm = {}, {}, []

    def commit(self, changes):
        for record in changes.calls:
            self.calls[record.callid] = json.loads(json.dumps({
                "callid": record.callid, "state": record.state, "legs": record.legs,
                "tracker_state": record.tracker_state, "end_source": record.end_source}))
        for ext in changes.extensions:
            self.extensions[ext.domain, ext.extension] = ext
        self.crm.extend((e.event_type, e.extension, e.params) for e in changes.crm_events)

    def snapshot(self) -> TrackerSnapshot:
        snap = TrackerSnapshot(extensions=[ExtensionRecord(**{
            f: getattr(e, f) for f in e.__slots__}) for e in self.extensions.values()])
        for row in self.calls.values():
            if row["state"] != "ended":
                snap.call_states.append(row["tracker_state"])
            else:
                snap.finished.extend([*row["legs"], row["callid"]])
        return snap


def run_with_restart(evs, split):
    store = Store()
    first = Tracker()
    for event in evs[:split]:
        store.commit(first.handle(event))
    second = Tracker()
    second.restore(store.snapshot())
    for event in evs[split:]:
        store.commit(second.handle(event))
    return store, second


def channel_split_points(evs):
    return [i for i, e in enumerate(evs) if e.name in CHANNEL_EVENTS]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_restart_between_any_two_events_changes_no_crm_event(scenario):
    evs = events(scenario, "json")
    whole, _ = run_with_restart(evs, len(evs))
    assert [kind for kind, _, _ in whole.crm][-1] == CALL_LOG
    for split in channel_split_points(evs):
        store, second = run_with_restart(evs, split)
        assert store.crm == whole.crm, f"restart before event {split} ({evs[split].name})"
        assert not second.calls.active_calls()
        assert {row["state"] for row in store.calls.values()} == {"ended"}


def _live_call_store(scenario="inbound_answered"):
    """A store holding an answered call in progress (cut before any hangup)."""
    evs = events(scenario, "json")
    cut = next(i for i, e in enumerate(evs) if e.name == "CHANNEL_HANGUP")
    store, _ = run_with_restart(evs[:cut], cut)
    (callid,) = [c for c, row in store.calls.items() if row["state"] != "ended"]
    return store, callid, evs[cut:]


def _rows(store, callid, callstate="ACTIVE"):
    return [{"uuid": leg["uuid"], "call_uuid": callid, "callstate": callstate,
             "created_epoch": str(int(leg["created_at"])), "direction": leg["direction"]}
            for leg in store.calls[callid]["tracker_state"]["legs"]]


def test_restored_call_still_live_derives_nothing_again_then_ends_normally():
    store, callid, rest = _live_call_store()
    sent = list(store.crm)
    tracker = Tracker()
    assert tracker.restore(store.snapshot()) == 1
    tracker.begin_snapshot()
    result = tracker.resync([], _rows(store, callid), now=2e9)
    assert result.discovered_legs == 0 and result.lost_legs == 0
    assert not result.changes.crm_events
    for event in rest:
        store.commit(tracker.handle(event))
    logs = [params for kind, _, params in store.crm if kind == CALL_LOG]
    assert len(logs) == 1 and logs[0]["status"] == "ANSWERED" and logs[0]["billsec"] == 3
    assert store.crm[:len(sent)] == sent and len(store.crm) == len(sent) + 1
    assert store.calls[callid]["end_source"] == ""


def test_restored_call_gone_from_freeswitch_gets_one_log_marked_lost_track():
    store, callid, _ = _live_call_store()
    tracker = Tracker()
    tracker.restore(store.snapshot())
    tracker.begin_snapshot()
    answered = min(leg["answered_at"] for leg in store.calls[callid]["tracker_state"]["legs"]
                   if leg["answered_at"])
    result = tracker.resync([], [], now=answered + 42.5)
    store.commit(result.changes)
    (log,) = [params for kind, _, params in store.crm if kind == CALL_LOG]
    assert log["status"] == "ANSWERED" and log["extension"] == "101" and log["phone"] == "0904824242"
    assert 41 <= log["billsec"] <= 43  # up to the reconnect: an upper bound, and marked so
    assert store.calls[callid]["end_source"] == END_LOST_TRACK
    assert {e.state for e in tracker.extensions.records()} <= {"idle", "offline"}
    assert not tracker.calls.active_calls()


def test_cdr_figures_close_a_restored_call_exactly():
    store, callid, _ = _live_call_store()
    legs = store.calls[callid]["tracker_state"]["legs"]
    tracker = Tracker()
    tracker.restore(store.snapshot())
    tracker.begin_snapshot()
    start = int(min(leg["created_at"] for leg in legs))
    ends = {leg["uuid"]: LegEnd(leg["uuid"], "NORMAL_CLEARING", start + 20, start,
                                start + 2 if leg["answered_at"] else 0) for leg in legs}
    store.commit(tracker.resync([], [], now=start + 100, ends=ends).changes)
    (log,) = [params for kind, _, params in store.crm if kind == CALL_LOG]
    assert (log["status"], log["billsec"], log["duration"]) == ("ANSWERED", 18, 20)
    assert store.calls[callid]["end_source"] == END_CDR


def test_channels_of_a_call_that_just_ended_do_not_start_it_again():
    evs = events("inbound_answered", "json")
    store, _ = run_with_restart(evs, len(evs))
    (callid,) = store.calls
    legs = store.calls[callid]["legs"]
    tracker = Tracker()
    tracker.restore(store.snapshot())
    tracker.begin_snapshot()
    rows = [{"uuid": uuid, "call_uuid": callid, "callstate": "HANGUP", "direction": "outbound"}
            for uuid in legs]
    assert not tracker.resync([], rows, now=2e9).changes.crm_events
    assert not tracker.calls.active_calls()


def test_restored_presence_is_replaced_by_freeswitch_registrations():
    store = Store()
    store.extensions["127.0.0.1", "101"] = ExtensionRecord("101", "127.0.0.1", "idle",
                                                           contact="sip:101@1.2.3.4", expires_at=2e9)
    tracker = Tracker()
    tracker.restore(store.snapshot())
    assert [e.state for e in tracker.extensions.records()] == ["idle"]
    tracker.begin_snapshot()
    changed = tracker.resync([], [], now=2e9).changes.extensions
    assert [(e.extension, e.state) for e in changed] == [("101", "offline")]


def test_a_call_stored_live_without_state_is_closed_once_freeswitch_no_longer_has_it():
    legacy = [CallRecord("old", "inbound", "active", extension="101", legs=["old", "leg"]),
              CallRecord("live", "inbound", "active", extension="102", legs=["live"])]
    tracker = Tracker()
    tracker.restore(TrackerSnapshot(unrestorable=legacy))
    tracker.begin_snapshot()
    changes = tracker.resync([], [{"uuid": "live", "call_uuid": "live"}], now=2e9).changes
    closed = [r for r in changes.calls if r.callid == "old"]
    assert [(r.state, r.end_source, r.hangup_cause, r.extension) for r in closed] == [
        ("ended", END_LOST_TRACK, "CONNECTOR_LOST_TRACK", "101")]
    assert not [e for e in changes.crm_events if e.callid == "old"]  # its log was lost by the old version
    tracker.begin_snapshot()
    assert not [r for r in tracker.resync([], [], now=2e9 + 1).changes.calls if r.callid == "old"]


def test_an_unreadable_state_is_skipped_with_an_error(caplog):
    tracker = Tracker()
    assert tracker.restore(TrackerSnapshot(call_states=[{"legs": [{"uuid": "x"}]}])) == 0
    assert "cannot take up call" in caplog.text


def test_end_legs_closes_a_call_leg_by_leg_and_shows_its_least_exact_source():
    store, callid, _ = _live_call_store()
    legs = store.calls[callid]["tracker_state"]["legs"]
    assert len(legs) == 2
    tracker = Tracker()
    tracker.restore(store.snapshot())
    first, second = (leg["uuid"] for leg in legs)
    start = int(min(leg["created_at"] for leg in legs))
    changes = tracker.end_legs({first: LegEnd(first, "NORMAL_CLEARING", start + 9, start, start + 2)})
    assert not changes.crm_events and [r.state for r in changes.calls] == ["active"]
    assert tracker.end_legs({first: LegEnd(first, "NORMAL_CLEARING", start + 9)}).calls == []  # once
    tracker.begin_snapshot()
    store.commit(tracker.resync([], [], now=start + 60).changes)  # the other leg: gone, no CDR
    (log,) = [params for kind, _, params in store.crm if kind == CALL_LOG]
    assert store.calls[callid]["end_source"] == END_LOST_TRACK and log["status"] == "ANSWERED"

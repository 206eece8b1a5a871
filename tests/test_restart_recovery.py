"""Restarts of the connector process (SIGTERM and SIGKILL, at random moments,
under simulator traffic) and of FreeSWITCH: every call gets exactly one call
log, no start event is derived twice, nothing stays live in the database.

Real processes, sockets and files: ``esl-connector run`` as a subprocess, the
simulator and a CRM receiver in the test process, the database between runs:
every test runs on a SQLite file and on a fresh database of a real PostgreSQL
server.
Without a CDR source, a call that starts *and* ends while the connector is down
leaves no trace: such calls are the only ones allowed to have no call log."""

import random
import signal
import subprocess
import sys
import time

import gevent
import pytest

from esl_connector.simulator import Simulator, run_traffic

from connector_harness import start_connector
from esl_fake_server import wait_until
from restart_harness import (
    EXTENSIONS,
    Received,
    answered_call,
    dumps,
    restart_rig,
    stored_calls,
    watch_calls,
    write_config,
)

# A call started this long before a signal may not be committed yet (commit
# window, events still queued in a loaded connector): if it also ends before
# the connector is back, it may leave no trace.
UNCOMMITTED_MARGIN = 3.0


@pytest.fixture
def rig(backend, tmp_path):
    yield from restart_rig(tmp_path, backend)


@pytest.fixture(params=[False, True], ids=["events-only", "with-cdr-files"])
def traffic_rig(request, backend, tmp_path):
    for made in restart_rig(tmp_path, backend, cdr_files=request.param):
        yield (request.param, *made)


def _excused(call, outages, stored, cdrs: bool) -> bool:
    """Nothing about it was ever committed, and it started and ended while the
    connector could not see it; or it never reached an extension (a FreeSWITCH
    restart dropped it at once). Any call the connector ever committed is owed
    its log, whenever it ended. With CDRs, only a call a FreeSWITCH restart
    dropped (no CDR written) and that was never committed may go without."""
    if not call.reached_extension:
        return True
    blind = [(down, up) for kind, down, up in outages if kind == "freeswitch" or not cdrs]
    return call.callid not in stored and any(
        call.started >= down - UNCOMMITTED_MARGIN and call.ended <= up for down, up in blind)


def _restart_freeswitch(sim, reads) -> tuple[float, float]:
    """Stop the simulator's server, forget every channel (no event, as a
    FreeSWITCH restart), start again; returns the connector's blind window."""
    down = time.monotonic()
    sim.server.stop()
    sim.pbx.restart()
    for extension in sim.pbx.extensions.values():
        extension.busy_with.clear()  # its calls were dropped with the channels
    sim.server.start()
    sim.pbx.register_all()
    wait_until(lambda: reads.first_after(down), timeout=15, what="the connector's resync")
    return down, reads.first_after(down)


def test_restarts_under_traffic_lose_and_duplicate_no_call_log(traffic_rig):
    cdrs, sim, receiver, process, db = traffic_rig
    rng = random.Random(20261127)
    process.start()
    calls = watch_calls(sim)
    traffic = gevent.spawn(run_traffic, sim.pbx, 0.3, EXTENSIONS, None, 7)
    outages = []
    for action in (signal.SIGTERM, signal.SIGKILL, "freeswitch", signal.SIGKILL, signal.SIGTERM):
        gevent.sleep(rng.uniform(0.8, 2.0))
        if action == "freeswitch":
            outages.append(("freeswitch", *_restart_freeswitch(sim, process.reads)))
            continue
        down = time.monotonic()
        code = process.signal(action)
        assert code == (0 if action == signal.SIGTERM else -signal.SIGKILL), process.log_tail()
        gevent.sleep(rng.uniform(0.0, 0.8))
        outages.append(("connector", down, process.start()))
    gevent.sleep(1.0)
    traffic.kill()
    wait_until(lambda: all(c.ended for c in calls), timeout=20, what="the simulated calls to end")
    gevent.sleep(0.5)  # the last outage is seconds ago: what the connector knew of it is committed
    stored = stored_calls(db)
    owed = [c for c in calls if not _excused(c, outages, stored, cdrs)]
    assert len(owed) > 20  # the others started and ended while the connector was blind
    try:
        wait_until(lambda: {c.callid for c in owed} <= set(Received.of(receiver).logs), timeout=30,
                   what="a call log for every call the connector could see")
    except AssertionError:
        missing = [c for c in owed if c.callid not in Received.of(receiver).logs]
        stored = stored_calls(db)
        raise AssertionError(dumps({"outages": outages, "missing": [
            (c.callid, c.started, c.ended, c.call.outcome, sorted(c.call.uuids),
             {k: stored.get(c.callid, {}).get(k) for k in ("state", "end_source", "hangup_cause")},
             db.rows("SELECT event_type, status, attempts, last_error, claimed_by FROM outbox WHERE callid = ?",
                     (c.callid,)))
            for c in missing]})) from None
    assert process.stop() == 0, process.log_tail()
    _check_the_logs(calls, Received.of(receiver), stored_calls(db), cdrs)


def _check_the_logs(calls, received, stored, cdrs: bool) -> None:
    """One log per call, nothing left live; exact figures wherever every hangup
    was seen or its CDR came, a closed-when-lost mark on the others."""
    assert received.duplicates() == {}
    assert [c for c, row in stored.items() if row["state"] != "ended"] == []
    sources = []
    for call in calls:
        log = received.logs.get(call.callid)
        if log is None or not call.reached_extension:
            continue
        truth, row = call.truth(), stored[call.callid]
        assert (log["extension"], log["phone"]) == (truth["extension"], truth["phone"]), dumps([log, truth])
        sources.append(row["end_source"])
        if row["end_source"] in ("", "cdr"):
            assert (log["status"], int(log["billsec"])) == (truth["status"], truth["billsec"]), dumps([log, truth])
        else:  # ended while the connector was down: closed at its return with what it knew
            assert row["end_source"] == "lost_track", dumps(row)
            assert log["status"] in ("ANSWERED", "FAILED", "NO ANSWER", "BUSY")
    if cdrs:  # calls that ended while the connector was down were closed from their CDRs
        assert "cdr" in sources, sources
    else:
        assert "lost_track" in sources, sources  # some calls did end while the connector was down


@pytest.mark.parametrize("sig,freeswitch_restarts", [
    (signal.SIGTERM, False), (signal.SIGKILL, False), (signal.SIGKILL, True)],
    ids=["sigterm", "sigkill", "sigkill-and-freeswitch-restarts-meanwhile"])
def test_a_call_that_ends_while_the_connector_is_down_gets_one_log_marked_so(rig, tmp_path, sig,
                                                                             freeswitch_restarts):
    sim, receiver, process, db = rig
    process.start()
    call = answered_call(sim)
    wait_until(lambda: Received.of(receiver).ids, timeout=10, what="incoming_call delivered")
    gevent.sleep(0.3)  # committed (commit window 0.05 s)
    process.signal(sig)
    if freeswitch_restarts:
        sim.server.stop()
        sim.pbx.restart()  # forgets its channels, no event, like FreeSWITCH
        sim.server.start()
        sim.pbx.register_all()
    else:
        call.kill("NORMAL_CLEARING")  # the agent hangs up while nobody listens
        assert call.wait(10)
    process.start()
    wait_until(lambda: call.legs["did"].uuid in Received.of(receiver).logs, timeout=15,
               what="the call log")
    assert process.stop() == 0
    received = Received.of(receiver)
    assert received.duplicates() == {} and len(received.ids) == 2  # incoming_call + its log
    log = received.logs[call.legs["did"].uuid]
    assert (log["status"], log["extension"], log["phone"]) == ("ANSWERED", "101", "0904824242")
    assert int(log["billsec"]) >= 1 and int(log["duration"]) >= int(log["billsec"])
    row = stored_calls(db)[call.legs["did"].uuid]
    assert (row["state"], row["end_source"], row["hangup_cause"]) == ("ended", "lost_track", "CONNECTOR_LOST_TRACK")
    shown = subprocess.run([sys.executable, "-m", "esl_connector.cli", "deliveries", "show", "-c",
                            str(process.config), "2"], capture_output=True, text=True, timeout=30)
    assert "call ended:   lost_track: the call ended while the connector was away" in shown.stdout, shown


def test_a_call_still_live_after_a_restart_is_taken_up_not_notified_again(rig):
    sim, receiver, process, db = rig
    process.start()
    call = answered_call(sim, talk_time=240.0)  # 6 s of real time: outlasts even a slow restart
    wait_until(lambda: Received.of(receiver).ids, timeout=10, what="incoming_call delivered")
    gevent.sleep(0.3)
    process.signal(signal.SIGKILL)
    process.start()
    assert call.wait(15)
    wait_until(lambda: call.legs["did"].uuid in Received.of(receiver).logs, timeout=15, what="the call log")
    assert process.stop() == 0
    received = Received.of(receiver)
    assert received.duplicates() == {} and len(received.ids) == 2
    log = received.logs[call.legs["did"].uuid]
    assert (log["status"], int(log["billsec"])) == ("ANSWERED", 240)  # its real hangup, seen
    assert stored_calls(db)[call.legs["did"].uuid]["end_source"] == ""


def _slow_receiver(delays):
    """A CRM that takes delays[event_type] seconds to answer (once each)."""
    def on_request(request):
        gevent.sleep(delays.pop(request.event_type, 0.0))
    return on_request


def test_sigterm_lets_a_delivery_in_flight_finish_and_the_next_start_resumes_there(rig):
    sim, receiver, process, db = rig
    receiver._on_request = _slow_receiver({"incoming_call": 1.5})
    process.start()
    call = answered_call(sim, talk_time=6000.0)  # ended by hand below, however slow the restart
    wait_until(lambda: receiver.requests, timeout=10, what="incoming_call in flight")
    assert process.stop() == 0  # waited for the CRM's answer
    process.start()  # returns once it has read FreeSWITCH's channels: the call is live
    call.kill()
    assert call.wait(15)
    wait_until(lambda: call.legs["did"].uuid in Received.of(receiver).logs, timeout=15, what="the call log")
    assert process.stop() == 0
    assert [r.event_type for r in receiver.requests] == ["incoming_call", "call_answered"]  # nothing twice
    assert stored_calls(db)[call.legs["did"].uuid]["end_source"] == ""


def test_sigterm_stops_within_its_deadline_and_a_cut_delivery_goes_again_with_its_event_id(rig, tmp_path):
    sim, receiver, process, db = rig
    write_config(process.config, db.url, sim.address[1], receiver.url, "101-130", delivery="stop_timeout = 1.0")
    receiver._on_request = _slow_receiver({"incoming_call": 30.0})
    process.start()
    call = answered_call(sim, talk_time=600.0)
    wait_until(lambda: receiver.requests, timeout=10, what="incoming_call in flight")
    stopping = time.monotonic()
    assert process.stop() == 0
    assert time.monotonic() - stopping < 6
    process.start()
    wait_until(lambda: len(receiver.requests) == 2, timeout=10, what="the delivery sent again")
    first, again = receiver.requests
    assert first.headers["X-Event-Id"] == again.headers["X-Event-Id"]  # the one duplicate allowed
    call.kill()
    wait_until(lambda: call.legs["did"].uuid in Received.of(receiver).logs, timeout=15, what="the call log")
    assert process.stop() == 0


def test_a_failed_read_of_freeswitch_state_is_retried(backend):
    sim = Simulator(speed=40.0).start()
    original, failures = sim.pbx.api, []

    def api(command, args=""):
        if command == "show" and args.startswith("channels") and not failures:
            failures.append(command)
            return "-ERR the channel table is busy\n"
        return original(command, args)
    sim.pbx.api = api
    try:
        connector = start_connector(backend.url, *sim.address)  # waits for a resync
        assert failures and connector.resyncs == 1
        connector.stop()
    finally:
        sim.stop()

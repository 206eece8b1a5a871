"""The connector process while its database cannot be written (locked by
another process for longer than SQLite's busy timeout): it keeps the Event
Socket, says so in its log and health API, and catches up when the database
returns; stopped during the outage, it exits non-zero and the next start loses
nothing FreeSWITCH can still give."""

import signal
import sqlite3
from contextlib import contextmanager

import gevent
import pytest

from esl_connector.records import Changes, ExtensionRecord
from esl_connector.simulator import Simulator, run_traffic

from connector_harness import start_connector
from esl_fake_server import wait_until
from restart_harness import (
    EXTENSIONS,
    Received,
    answered_call,
    restart_rig,
    stored_calls,
    watch_calls,
    write_config,
)


@pytest.fixture
def rig(sqlite_database, tmp_path):
    """SQLite's own failure: its file locked by another process (PostgreSQL's
    lost server: test_storage_writer, test_delivery_outage)."""
    yield from restart_rig(tmp_path, sqlite_database)


@contextmanager
def write_locked(database):
    """Hold SQLite's write lock from another process's point of view."""
    conn = sqlite3.connect(database.sqlite_path, timeout=60, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


@pytest.mark.timeout(300)  # a connector process, a 5 s busy timeout per write: minutes on a loaded machine
def test_a_locked_database_delays_but_loses_and_duplicates_nothing(rig):
    sim, receiver, process, db = rig
    process.start()
    calls = watch_calls(sim)
    traffic = gevent.spawn(run_traffic, sim.pbx, 0.3, EXTENSIONS, None, 11)
    gevent.sleep(1.0)
    with write_locked(db):  # until a write has failed: longer than the connector's 5 s busy timeout
        health = wait_until(lambda: (h := process.health())["status"] == "degraded" and h, timeout=60,
                            what="the health API to report the write failure")
        assert "database is locked" in health["writer"]["last_error"]
        assert health["writer"]["queued_changes"] > 0 and health["freeswitch"]["connected"]
    wait_until(lambda: process.health()["status"] == "ok", timeout=60, what="writes to resume")
    traffic.kill()
    wait_until(lambda: all(c.ended for c in calls), timeout=60, what="the simulated calls to end")
    wait_until(lambda: {c.callid for c in calls} <= set(Received.of(receiver).logs), timeout=30,
               what="a call log for every call")  # none excused: the connector never stopped
    assert process.stop() == 0, process.log_tail()
    received = Received.of(receiver)
    assert received.duplicates() == {}
    assert [c for c, row in stored_calls(db).items() if row["state"] != "ended"] == []
    log_text = process.log_path.read_text()
    assert "cannot write to sqlite:" in log_text and "database is locked" in log_text
    assert "again after" in log_text  # the recovery is logged


@pytest.mark.timeout(300)  # a connector process, a 5 s busy timeout per write: minutes on a loaded machine
def test_stopped_during_an_outage_it_exits_non_zero_and_the_next_start_recovers(rig):
    sim, receiver, process, db = rig
    write_config(process.config, db.url, sim.address[1], receiver.url, "101-130", delivery="stop_timeout = 2.0")
    process.start()
    ended = answered_call(sim)
    wait_until(lambda: Received.of(receiver).ids, timeout=60, what="incoming_call delivered")
    wait_until(lambda: process.health()["writer"]["queued_changes"] == 0, timeout=30, what="all committed")
    with write_locked(db):
        ended.kill()  # its hangup reaches the connector, which cannot commit it
        assert ended.wait(10)
        sim.pbx.configure("102", answer_after=0.5, talk_time=36000.0)  # 30 min at speed 20: past a slow restart
        live = sim.pbx.inbound_call(caller="0911000111", did="19001234", ring=["102"])
        wait_until(lambda: live.legs.get("agent:102") is not None and live.legs["agent:102"].answered,
                   what="the second call answered")
        wait_until(lambda: process.health()["writer"]["queued_changes"] > 0, timeout=30,
                   what="changes the connector cannot write")
        assert process.signal(signal.SIGTERM, timeout=60) == 1  # each write waits out the busy timeout
    assert "not written" in process.log_tail()
    process.start()
    wait_until(lambda: ended.legs["did"].uuid in Received.of(receiver).logs, timeout=60,
               what="the first call's log (closed at the restart)")
    wait_until(lambda: (live.legs["did"].uuid, "incoming_call", "102") in Received.of(receiver).ids,
               timeout=60, what="the second call's incoming_call (from FreeSWITCH's channels)")
    live.kill()
    wait_until(lambda: live.legs["did"].uuid in Received.of(receiver).logs, timeout=60, what="its log")
    assert process.stop() == 0
    assert Received.of(receiver).duplicates() == {}
    stored = stored_calls(db)
    assert stored[ended.legs["did"].uuid]["end_source"] == "lost_track"
    assert stored[live.legs["did"].uuid]["end_source"] == ""


def test_a_dead_storage_writer_makes_the_connector_stop_for_a_restart(backend):
    sim = Simulator(speed=40.0).start()
    connector = start_connector(backend.url, *sim.address)
    try:
        def boom():
            raise RuntimeError("a bug")
        connector.writer._commit_queued = boom
        connector.writer.submit(Changes(extensions=[ExtensionRecord("101", "d", "idle")]))
        wait_until(connector.failed.is_set, timeout=30, what="the failure to be noticed")
        assert "the storage writer stopped: RuntimeError('a bug')" in connector.failure
    finally:
        connector.stop()
        sim.stop()


def test_a_dead_delivery_dispatcher_makes_the_connector_stop_for_a_restart(backend):
    """Inline: the engine in the connector's process (a separate delivery
    process that dies is restarted on its own: test_delivery_process)."""
    sim = Simulator(speed=40.0).start()
    connector = start_connector(backend.url, *sim.address, delivery={"process": "inline"})
    try:
        def boom():
            raise RuntimeError("a bug")
        connector.deliverer._scan = boom
        connector.deliverer.wake()
        wait_until(connector.failed.is_set, timeout=30, what="the failure to be noticed")
        assert "the delivery dispatcher stopped: RuntimeError('a bug')" in connector.failure
    finally:
        connector.stop()
        sim.stop()

"""``cdr.retention``: the cdr_legs and cdr_files rows are forgotten once old,
on a real SQLite file and a real PostgreSQL database, and a forgotten CDR is
never processed again: not from a file still on disk (the scanner skips a
file older than the retention unread), not from a repeated POST (a leg that
ended before the retention is answered ``expired``)."""

import json
import os
import time
from pathlib import Path

import pytest
import requests

from esl_connector.cdrs.retention import CdrRetention
from esl_connector.settings.config import ConfigError, settings_from_dict
from esl_connector.simulator import Simulator
from esl_connector.simulator.cdr import CdrFiles
from storage import cdr_store
from storage.db import open_database
from storage.migrations import migrate

from connector_harness import outbox, start_connector, wait_outbox
from esl_fake_server import wait_until
from recordings import FIXTURES

DAY = 86400.0
RETENTION = 30 * DAY
PASSWORD = "cdr-secret-for-tests"


@pytest.fixture
def db(backend):
    made = open_database(backend.url)
    migrate(made)
    yield made
    made.close()


def test_old_done_legs_and_old_files_are_purged_in_chunks_and_the_rest_is_kept(db):
    now = 100 * DAY
    for uuid, received in (("old-1", now - 40 * DAY), ("old-2", now - 31 * DAY), ("recent", now - 29 * DAY)):
        cdr_store.add_leg(db, uuid, "call-" + uuid, {}, "file", now=received)
        cdr_store.mark_done(db, [uuid], now=received)
    cdr_store.add_leg(db, "old-pending", "call-p", {"uuid": "old-pending"}, "http", now=now - 40 * DAY)
    cdr_store.remember_file(db, "/cdr/old.cdr.json", 10, now - 31 * DAY, "accepted", now=now - 31 * DAY)
    cdr_store.remember_file(db, "/cdr/touched.cdr.json", 10, now - 1 * DAY, "duplicate", now=now - 40 * DAY)

    assert cdr_store.purge_older_than(db, now - RETENTION, chunk=1) == (2, 1)

    assert cdr_store.leg_states(db) == {"recent": "done", "old-pending": "pending"}  # pending: still needed
    assert set(cdr_store.known_files(db)) == {"/cdr/touched.cdr.json"}  # by the file's age, not when read
    assert cdr_store.purge_older_than(db, now - RETENTION) == (0, 0)


def test_retention_must_be_zero_or_at_least_a_day():
    assert settings_from_dict({}, env={}).cdr.retention == RETENTION
    assert settings_from_dict({"cdr": {"retention": 0}}, env={}).cdr.retention == 0
    for wrong in (-1, 3600):
        with pytest.raises(ConfigError) as info:
            settings_from_dict({"cdr": {"retention": wrong}}, env={})
        assert any(p.startswith("cdr.retention: must be 0") for p in info.value.problems)


@pytest.fixture
def sim(tmp_path):
    simulator = Simulator(speed=40.0, extensions=["101"]).start()
    simulator.pbx.add_cdr_output(CdrFiles(str(tmp_path / "json_cdr")))  # mod_json_cdr's log-dir
    yield simulator
    simulator.stop()


def _call_while_the_connector_is_down(sim, directory: Path, files_before: int) -> str:
    sim.pbx.configure("101", answer_after=1.0, talk_time=2.0)
    sim.pbx.register("101")
    call = sim.pbx.inbound_call(caller="0904824242", did="19001234", ring=["101"])
    assert call.wait(10)
    wait_until(lambda: len(os.listdir(directory)) == files_before + 2, what="both legs' CDR files")
    return call.uuids["did"]


def _as_if_it_all_happened_ago(backend, directory: Path, seconds: float) -> None:
    """Time passes: every stored CDR time and every file's mtime move back."""
    backend.execute("UPDATE cdr_legs SET received_at = received_at - ?, done_at = done_at - ?", (seconds, seconds))
    backend.execute("UPDATE cdr_files SET mtime = mtime - ?, processed_at = processed_at - ?", (seconds, seconds))
    for path in directory.iterdir():
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


def _connector(backend, sim, directory: Path):
    host, port = sim.address
    return start_connector(backend.url, host, port, cdr={
        "directories": [str(directory)], "scan_interval": 0, "complete_after": 0.5, "retention": RETENTION})


def test_a_real_scanner_across_restarts_forgets_old_rows_and_reads_no_cdr_twice(backend, sim, tmp_path):
    directory = tmp_path / "json_cdr"
    old_call = _call_while_the_connector_is_down(sim, directory, 0)
    first = _connector(backend, sim, directory)
    try:
        assert [(kind, p["callid"]) for kind, p in wait_outbox(first, 1)] == [("call_answered", old_call)]
        wait_until(lambda: set(cdr_store.leg_states(first.db).values()) == {"done"}, what="legs done")
        old_legs = set(cdr_store.leg_states(first.db))
    finally:
        first.stop()
    _as_if_it_all_happened_ago(backend, directory, 40 * DAY)  # the old call's files stay on disk
    new_call = _call_while_the_connector_is_down(sim, directory, 2)

    second = _connector(backend, sim, directory)
    try:
        wait_outbox(second, 2)
        wait_until(lambda: second.cdr_retention.purged_files == 2, what="the retention's first pass")
        assert second.cdr_retention.purged_legs == 2
        wait_until(lambda: set(cdr_store.leg_states(second.db).values()) == {"done"}, what="legs done")
        new_legs = set(cdr_store.leg_states(second.db))
        assert len(new_legs) == 2 and not new_legs & old_legs  # the old call's rows are gone
        assert len(cdr_store.known_files(second.db)) == 2
        rescan = second.cdr_scanner.scan()
        assert (rescan.accepted, rescan.duplicates, rescan.too_old) == (0, 0, 2)
    finally:
        second.stop()

    third = _connector(backend, sim, directory)  # a restart: nothing is read again
    try:
        rescan = third.cdr_scanner.scan()
        assert (rescan.accepted, rescan.duplicates, rescan.too_old) == (0, 0, 2)
        third.writer.flush()
        assert [(kind, p["callid"]) for kind, p in outbox(third)] == [
            ("call_answered", old_call), ("call_answered", new_call)]
        assert set(cdr_store.leg_states(third.db)) == new_legs
        assert len(os.listdir(directory)) == 4  # the files themselves are never deleted
    finally:
        third.stop()


def _fixture_leg_ended(seconds_ago: float) -> str:
    doc = json.loads((Path(FIXTURES) / "json_cdr.click_to_call.agent_leg.json").read_text())
    end = time.time() - seconds_ago
    doc["variables"].update(end_uepoch=str(int(end * 1e6)), end_epoch=str(int(end)))
    return json.dumps(doc)


def test_a_cdr_of_a_leg_that_ended_before_the_retention_is_answered_expired_and_not_stored(backend, sim):
    host, port = sim.address
    made = start_connector(backend.url, host, port, cdr={"http": True, "password": PASSWORD, "retention": DAY})
    try:
        def post(body):
            return requests.post(made.http.url + "/api/v1/cdr", data=body, auth=("freeswitch", PASSWORD),
                                 headers={"Content-Type": "application/json"}, timeout=5)

        reply = post(_fixture_leg_ended(DAY + 60))
        assert (reply.status_code, reply.json()) == (200, {"status": "ok", "result": "expired"})
        assert cdr_store.leg_states(made.db) == {}
        assert made.cdrs.status()["expired"] == 1
        assert post(_fixture_leg_ended(DAY - 60)).json()["result"] == "accepted"
        assert list(cdr_store.leg_states(made.db).values()) == ["pending"]
    finally:
        made.stop()


def test_zero_retention_keeps_every_row(db):
    cdr_store.add_leg(db, "ancient", "c", {}, "file", now=1.0)
    cdr_store.mark_done(db, ["ancient"], now=1.0)
    retention = CdrRetention(db, 0.0)
    assert retention.purge() == (0, 0)
    assert retention.start()._greenlet is None
    assert cdr_store.leg_states(db) == {"ancient": "done"}

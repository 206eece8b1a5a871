"""Two connector processes (``esl-connector run``, each with its own Event
Socket to a simulator) delivering from one database while rows keep arriving:
every webhook reaches the CRM once, incoming_call before call_answered for each
call; and when one is killed mid-load, the other delivers what it held once
its lease runs out: nothing stuck, and the only webhooks sent twice are ones
the killed process had claimed and the CRM had already received."""

import signal
import time
from collections import Counter, defaultdict

import gevent
import pytest

from esl_connector.records import CALL_LOG, INCOMING_CALL
from esl_connector.simulator import Simulator

from delivery_fixtures import ScriptedCrm, add_events, crm_event, new_db
from esl_fake_server import wait_until
from restart_harness import ChannelReads, ConnectorProcess

LEASE = 2.0
pytestmark = pytest.mark.timeout(300)  # two connector processes under load: minutes on a loaded machine


def write_config(path, database_url, sim_port, crm_url, instance):
    path.write_text(f"""
[freeswitch]
host = "127.0.0.1"
port = {sim_port}
password = "ClueCon"
reconnect_max_delay = 0.5

[storage]
url = "{database_url}"
commit_window = 0.05

[delivery]
# inline: a SIGKILL of the connector kills its deliveries with it (a delivery
# process of its own would see its connector gone, finish and release its rows)
process = "inline"
poll_interval = 0.1
instance = "{instance}"
claim_lease = {LEASE}
user_agent = "{instance}"

[http]
port = 0

[logging]
level = "INFO"

[[customers]]
code = "acme"
domain_crm = "{crm_url}"
secret = "s3cret"
extensions = "101"
""")
    return path


@pytest.fixture
def rig(backend, tmp_path):
    """(database, CRM answering in ``crm.delay`` s (20 ms), {instance: process not started})."""
    crm = ScriptedCrm(policy=lambda request: gevent.sleep(crm.delay)).start()
    crm.delay = 0.02
    new_db(backend.url).close()  # migrated once, before both start
    sims, processes = [], {}
    for name in ("conn-a", "conn-b"):
        sim = Simulator(extensions=["101"], heartbeat_interval=20.0).start()
        sims.append(sim)
        config = write_config(tmp_path / f"{name}.toml", backend.url, sim.address[1], crm.url, name)
        processes[name] = ConnectorProcess(config, tmp_path / f"{name}.log", ChannelReads(sim))
    yield backend, crm, processes
    for process in processes.values():
        process.kill_if_running()
    for sim in sims:
        sim.stop()
    crm.stop()


def feed(db, calls, first=0, per_batch=5, pause=0.02):
    """Each call's incoming_call and call log, a few calls per commit, as ingest writes them."""
    for start in range(first, first + calls, per_batch):
        add_events(db, [crm_event(f"c{n}", kind) for n in range(start, min(start + per_batch, first + calls))
                        for kind in (INCOMING_CALL, CALL_LOG)], time.time())
        gevent.sleep(pause)


def received(crm):
    """(event id, call id, event type) of each request, in arrival order."""
    return [(r.headers.get("X-Event-Id"), r.query.get("callid") or r.json()["callid"], r.event_type)
            for r in list(crm.requests)]


def sent_by(crm, user_agent):
    """The event ids of the requests one process sent (each sends its instance as User-Agent)."""
    return {r.headers.get("X-Event-Id") for r in list(crm.requests) if r.headers.get("User-Agent") == user_agent}


def assert_in_order_per_call(requests):
    kinds = defaultdict(list)
    for _, callid, kind in requests:
        kinds[callid].append(kind)
    for callid, seen in kinds.items():
        first_log = seen.index(CALL_LOG)
        assert INCOMING_CALL not in seen[first_log:], (callid, seen)


def outbox(backend):
    return backend.rows("SELECT event_id, status, claimed_by FROM outbox ORDER BY id")


def test_two_connectors_deliver_every_webhook_once_in_order(rig):
    backend, crm, processes = rig
    for process in processes.values():
        process.start()
    db = new_db(backend.url)
    feed(db, 150)
    wait_until(lambda: len(crm.requests) >= 300, timeout=60, what="300 webhooks")
    gevent.sleep(1.0)  # a duplicate would have arrived by now
    requests = received(crm)
    counts = Counter(event_id for event_id, _, _ in requests)
    assert len(counts) == 300 and max(counts.values()) == 1
    assert_in_order_per_call(requests)
    rows = outbox(backend)
    assert {status for _, status, _ in rows} == {"delivered"} and {h for _, _, h in rows} == {""}
    delivered = {name: p.health()["delivery"]["engine"]["delivered"] for name, p in processes.items()}
    assert sum(delivered.values()) == 300 and min(delivered.values()) > 0, delivered  # both took part
    assert {p.health()["delivery"]["engine"]["instance"] for p in processes.values()} == set(processes)
    for process in processes.values():
        assert process.stop() == 0, process.log_tail()


def test_a_killed_connector_s_rows_are_delivered_by_the_other_after_its_lease(rig):
    backend, crm, processes = rig
    crm.delay = 0.1  # 4 requests at a time per process: 40 webhooks/s each, a backlog builds
    for process in processes.values():
        process.start()
    db = new_db(backend.url)
    feeder = gevent.spawn(feed, db, 200, 0, 10, 0.05)
    wait_until(lambda: len(crm.requests) >= 60, timeout=60, what="deliveries under way")
    processes["conn-a"].proc.send_signal(signal.SIGKILL)
    processes["conn-a"].proc.wait(10)
    held = {event_id: until for event_id, until in backend.rows(
        "SELECT event_id, claim_until FROM outbox WHERE claimed_by = 'conn-a' AND status = 'pending'")}
    feeder.get(timeout=60)
    wait_until(lambda: {s for _, s, _ in outbox(backend)} == {"delivered"}, timeout=60,
               what="every row delivered by the survivor")
    gevent.sleep(1.0)
    requests = received(crm)
    counts = Counter(event_id for event_id, _, _ in requests)
    assert len(counts) == 400
    twice = {event_id for event_id, n in counts.items() if n > 1}
    # Sent twice: only rows the killed process held and the CRM had got from it.
    assert twice <= set(held) & sent_by(crm, "conn-a") and max(counts.values()) <= 2, (twice, held)
    assert len(twice) <= 4  # at most its requests in flight (per_endpoint_concurrency)
    assert held, "the killed process held no row: the test did not kill it mid-load"
    delivered_at = dict(backend.rows("SELECT event_id, delivered_at FROM outbox"))
    assert all(delivered_at[event_id] >= until for event_id, until in held.items())  # not before its lease
    assert_in_order_per_call(requests)
    assert {h for _, _, h in outbox(backend)} == {""}
    assert processes["conn-b"].stop() == 0, processes["conn-b"].log_tail()


def long_lease(processes, seconds=600.0):
    """A lease longer than the test: rows delivered sooner were not waited for."""
    for process in processes.values():
        process.config.write_text(process.config.read_text().replace(f"claim_lease = {LEASE}",
                                                                     f"claim_lease = {seconds}"))


def test_a_stopped_connector_gives_its_rows_to_the_other_at_once(rig):
    backend, crm, processes = rig
    crm.delay = 0.1
    long_lease(processes)
    for process in processes.values():
        process.start()
    feed(new_db(backend.url), 100, 0, 20, 0.0)
    wait_until(lambda: len(crm.requests) >= 30, timeout=60, what="deliveries under way")
    # who holds what, from either: both, once the call logs fall due
    wait_until(lambda: all(n > 0 for n in processes["conn-b"].health()["delivery"]["claims"].values())
               and set(processes["conn-b"].health()["delivery"]["claims"]) == {"conn-a", "conn-b"},
               timeout=60, what="both holding rows")
    assert processes["conn-a"].stop() == 0, processes["conn-a"].log_tail()
    stopped = time.monotonic()
    wait_until(lambda: {s for _, s, _ in outbox(backend)} == {"delivered"}, timeout=120,
               what="every row delivered by the other, long before a 600 s lease")
    assert time.monotonic() - stopped < 120
    counts = Counter(event_id for event_id, _, _ in received(crm))
    assert len(counts) == 200 and max(counts.values()) == 1  # in flight at the stop: finished, recorded
    assert "outbox rows held by conn-a released" in processes["conn-a"].log_path.read_text()
    assert processes["conn-b"].health()["delivery"]["claims"] == {"conn-b": 0}  # alive, holding none
    assert_in_order_per_call(received(crm))


def test_a_killed_connector_restarted_under_its_name_takes_its_rows_back_at_once(rig):
    backend, crm, processes = rig
    crm.delay = 0.1
    long_lease(processes)
    conn_a = processes["conn-a"]
    conn_a.start()
    feed(new_db(backend.url), 50, 0, 50, 0.0)
    wait_until(lambda: len(crm.requests) >= 10, timeout=60, what="deliveries under way")
    conn_a.proc.send_signal(signal.SIGKILL)
    conn_a.proc.wait(10)
    held = {event_id for (event_id,) in backend.rows(
        "SELECT event_id FROM outbox WHERE claimed_by = 'conn-a' AND status = 'pending'")}
    # the restarted process sends another User-Agent: what the killed one sent stays told apart
    conn_a.config.write_text(conn_a.config.read_text().replace('user_agent = "conn-a"',
                                                               'user_agent = "conn-a restarted"'))
    restarted = time.monotonic()
    conn_a.start()
    wait_until(lambda: {s for _, s, _ in outbox(backend)} == {"delivered"}, timeout=120,
               what="every row delivered, long before a 600 s lease")
    assert time.monotonic() - restarted < 120 and held
    counts = Counter(event_id for event_id, _, _ in received(crm))
    twice = {event_id for event_id, n in counts.items() if n > 1}
    assert len(counts) == 100 and twice <= held & sent_by(crm, "conn-a") and len(twice) <= 4
    assert sent_by(crm, "conn-a restarted")
    assert_in_order_per_call(received(crm))


def wait_until_each_has_seen_the_other(backend, instances):
    """Each instance notes itself alive (``seen_until`` = its renewal + LEASE) and
    counts the others alive in the same transaction: one that has renewed after
    both were noted has seen the other."""
    def seen_until():
        return dict(backend.rows("SELECT instance, seen_until FROM delivery_instances"))
    wait_until(lambda: set(seen_until()) == instances, timeout=30, what="both instances alive")
    both_noted = time.time()
    wait_until(lambda: min(seen_until().values()) > both_noted + LEASE, timeout=30,
               what="each instance renewed since both were alive")


def test_a_slow_crm_s_backlog_is_worked_off_by_both(rig):
    """Each process sends 4 requests at a time to the CRM (per_endpoint_concurrency):
    with another alive, neither holds more than it can send soon (2 x workers)."""
    backend, crm, processes = rig
    crm.delay = 0.1
    for process in processes.values():
        process.start()
    wait_until_each_has_seen_the_other(backend, set(processes))
    # one commit of 200 start events: the first process to look could take them all
    add_events(new_db(backend.url), [crm_event(f"c{n}", INCOMING_CALL) for n in range(200)], time.time())
    wait_until(lambda: {s for _, s, _ in outbox(backend)} == {"delivered"}, timeout=60,
               what="every row delivered")
    delivered = {name: p.health()["delivery"]["engine"]["delivered"] for name, p in processes.items()}
    assert sum(delivered.values()) == 200 and min(delivered.values()) >= 50, delivered
    counts = Counter(event_id for event_id, _, _ in received(crm))
    assert len(counts) == 200 and max(counts.values()) == 1

"""``[delivery] processes = 2``: two delivery processes beside one connector
(``esl-connector run``, real processes), sharing the outbox through the claims
on SQLite and PostgreSQL, with the simulator's calls coming in over a real
Event Socket and a real CRM receiver.

``poll_interval`` is long (30 s) and so is the claims' lease (90 s): what
arrives sooner was woken by the connector's commits (one child in turn, the
next one when a child leaves rows over), and rows of a killed child came back
to its successor at once, not after the lease."""

import os
import re
import signal
from collections import Counter, defaultdict

import gevent
import pytest
import requests

from esl_connector.crm_receiver import CrmReceiver
from esl_connector.records import CALL_LOG, INCOMING_CALL, OUTGOING_CALL
from esl_connector.simulator import Simulator
from esl_connector.simulator.traffic import run_traffic

from esl_fake_server import wait_until
from restart_harness import ChannelReads, ConnectorProcess

EXTENSIONS = [str(n) for n in range(101, 121)]
SPEED = 40.0
CRM_DELAY = 0.08  # 4 requests at a time per child: 50 webhooks/s each at most, below the ~60 offered


def write_config(path, database_url, sim_port, crm_url, processes=2):
    path.write_text(f"""
[freeswitch]
host = "127.0.0.1"
port = {sim_port}
password = "ClueCon"
resync_delay = 0.0
reconnect_max_delay = 0.5

[storage]
url = "{database_url}"
commit_window = 0.02

[delivery]
process = "separate"
processes = {processes}
poll_interval = 30.0
claim_lease = 90.0
instance = "pbx-a"

[http]
port = 0

[logging]
level = "INFO"

[[customers]]
code = "acme"
domain_crm = "{crm_url}"
secret = "s3cret"
extensions = "{EXTENSIONS[0]}-{EXTENSIONS[-1]}"
""")
    return path


@pytest.fixture
def rig(backend, tmp_path):
    """(database, simulator, CRM, the connector started with two delivery processes)."""
    crm = CrmReceiver(status_for=lambda _request: (gevent.sleep(CRM_DELAY), 200)[1]).start()
    sim = Simulator(speed=SPEED, extensions=EXTENSIONS, heartbeat_interval=20.0).start()
    sim.pbx.register_all()
    config = write_config(tmp_path / "connector.toml", backend.url, sim.address[1], crm.url)
    process = ConnectorProcess(config, tmp_path / "connector.log", ChannelReads(sim))
    process.start()
    wait_until(lambda: delivery(process)["running"], timeout=30, what="both delivery processes delivering")
    yield backend, sim, crm, process
    process.kill_if_running()
    sim.stop()
    crm.stop()


def delivery(process) -> dict:
    return process.health()["delivery"]["engine"] or {"running": False}


def children(process) -> list[dict]:
    return delivery(process)["process"]["children"]


def metrics_text(process) -> str:
    url = re.findall(r"HTTP API listening on (\S+)", process.log_path.read_text(errors="replace"))[-1]
    return requests.get(url + "/metrics", timeout=5).text


def traffic(sim, seconds: float, seed: int) -> gevent.Greenlet:
    """Random calls (inbound, outbound, answered or not), about 30 a second."""
    return gevent.spawn(run_traffic, sim.pbx, 30.0 / SPEED, EXTENSIONS, seconds * SPEED, seed)


def settle(sim, backend, crm, timeout: float = 25.0) -> None:
    """The simulator's calls all ended, and every outbox row delivered and
    received (the connector stores a call log shortly after the call ends)."""
    wait_until(lambda: all(c.done for c in sim.pbx.calls), timeout=30, what="every simulated call ended")
    wait_until(lambda: all_delivered(backend) and {r.headers["X-Event-Id"] for r in list(crm.requests)}
               == stored_ids(backend), timeout=timeout,
               what="every outbox row delivered and received (by wakes, not by the 30 s poll)")


def all_delivered(backend) -> bool:
    statuses = Counter(status for (status,) in backend.rows("SELECT status FROM outbox"))
    return statuses.get("pending", 0) + statuses.get("retrying", 0) == 0 and statuses.get("delivered", 0) > 0


def stored_ids(backend) -> set[str]:
    return {event_id for (event_id,) in backend.rows("SELECT event_id FROM outbox")}


def assert_call_log_last_per_call(crm):
    """For each call: its start event (incoming_call, outgoing_call) before its
    call log (a request sent twice, in flight at a kill, comes again after)."""
    kinds = defaultdict(list)
    for request in list(crm.requests):
        kinds[request.query.get("callid") or request.json()["callid"]].append(request.event_type)
    for callid, seen in kinds.items():
        if CALL_LOG in seen:
            assert not {INCOMING_CALL, OUTGOING_CALL} & set(seen[seen.index(CALL_LOG):]), (callid, seen)


def test_two_delivery_processes_deliver_each_webhook_once_in_order_per_call(rig):
    backend, sim, crm, process = rig
    first = children(process)
    assert [c["instance"] for c in first] == ["pbx-a/d1", "pbx-a/d2"]
    assert len({c["pid"] for c in first} | {process.proc.pid}) == 3  # two children of their own
    traffic(sim, 6.0, seed=11).join(timeout=60)
    settle(sim, backend, crm)

    def consistent():
        """(requests, delivered per child) at a moment both the CRM and the
        children's status account for every stored row."""
        received = Counter(r.headers["X-Event-Id"] for r in list(crm.requests))
        per_child = [c["delivered"] for c in children(process)]
        stored = stored_ids(backend)
        return (received, per_child) if set(received) == stored and sum(per_child) == len(stored) else None
    received, per_child = wait_until(consistent, timeout=10, what="the children's status reaching the "
                                     "health endpoint")
    assert len(received) > 100
    assert max(received.values()) == 1, [k for k, n in received.items() if n > 1]
    assert_call_log_last_per_call(crm)
    assert min(per_child) > 0, per_child  # both took part
    assert process.stop() == 0, process.log_tail()


def test_a_killed_delivery_process_is_restarted_alone_and_takes_its_rows_back(rig):
    """SIGKILL of child 2 mid-load: child 1 and the connector go on; child 2 is
    started again under the same claims name and sends the rows its
    predecessor held at once (the lease is 90 s). Sent twice at most: the
    requests in flight at the kill."""
    backend, sim, crm, process = rig
    load = traffic(sim, 8.0, seed=12)
    wait_until(lambda: len(crm.requests) >= 40, timeout=30, what="deliveries under way")
    one, two = children(process)
    os.kill(two["pid"], signal.SIGKILL)
    wait_until(lambda: (c := children(process)[1])["up"] and c["pid"] != two["pid"], timeout=20,
               what="the second delivery process started again")
    load.join(timeout=60)
    settle(sim, backend, crm)  # the killed child's rows too, long before their 90 s lease ran out
    received = Counter(r.headers["X-Event-Id"] for r in list(crm.requests))
    assert set(received) == stored_ids(backend)
    assert sum(n - 1 for n in received.values()) <= 4  # per_endpoint_concurrency: in flight at the kill
    assert_call_log_last_per_call(crm)
    after = children(process)
    assert after[0]["pid"] == one["pid"] and after[0]["restarts"] == 0  # the other never stopped
    assert after[1]["restarts"] == 1 and after[1]["last_exit"] == "killed by SIGKILL"
    assert after[1]["instance"] == "pbx-a/d2"
    assert process.proc.poll() is None
    log = process.log_path.read_text()
    assert "(pid %d, 2 of 2) killed by SIGKILL" % two["pid"] in log
    assert process.stop() == 0, process.log_tail()


def test_metrics_show_each_delivery_process_and_a_reload_reaches_each(rig):
    backend, sim, crm, process = rig
    traffic(sim, 2.0, seed=13).join(timeout=60)
    settle(sim, backend, crm)
    wait_until(lambda: all(c["cpu_seconds"] > 0 for c in children(process)), timeout=5,
               what="both children's usage reported")
    text = metrics_text(process)
    for child in ("1", "2"):
        assert f'esl_connector_delivery_process_up{{child="{child}"}} 1.0' in text
        assert f'esl_connector_delivery_process_restarts_total{{child="{child}"}} 0.0' in text
        cpu = re.search(rf'esl_connector_delivery_process_cpu_seconds_total{{child="{child}"}} (\S+)', text)
        rss = re.search(rf'esl_connector_delivery_process_resident_memory_bytes{{child="{child}"}} (\S+)', text)
        assert float(cpu[1]) > 0 and float(rss[1]) > 10 * 2**20

    def delivered() -> float:
        return sum(float(n) for n in re.findall(
            r'esl_connector_outbox_results_total{customer="acme",status="delivered"} (\S+)', metrics_text(process)))
    # both children's outcomes, counted by the connector as their reports arrive
    wait_until(lambda: delivered() == len(stored_ids(backend)), timeout=5, what="every outcome counted")
    process.proc.send_signal(signal.SIGHUP)  # a reload reaches every child
    wait_until(lambda: process.log_path.read_text().count("new settings applied to the running delivery "
                                                          "engine") == 2, timeout=15, what="both children reloaded")
    assert process.stop() == 0, process.log_tail()

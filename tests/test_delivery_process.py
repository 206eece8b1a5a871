"""``[delivery] process = "separate"``: the delivery engine in a child process
of its own beside ingest, on the same database (SQLite WAL, PostgreSQL).

Real processes (the child is ``python -m esl_connector.delivery.process``;
the last tests run ``esl-connector run`` itself), real TCP from the simulator,
real HTTP to a CRM receiver. ``poll_interval`` is long (300 s) in these
connectors: what arrives sooner was woken by the connector's commit or its
admin action, not found by polling."""

import os
import signal

import gevent
import pytest
import requests

from esl_connector.app import Connector
from esl_connector.crm_receiver import CrmReceiver
from esl_connector.simulator import Simulator, run_scenario
from esl_connector.simulator.traffic import run_traffic
from storage import queries

from connector_harness import connector_settings
from esl_fake_server import wait_until
from restart_harness import restart_rig

SEPARATE = {"process": "separate", "poll_interval": 300.0, "claim_lease": 900.0}  # polls: never within a wait


def start_separate(database, sim, crm, **delivery) -> Connector:
    settings = connector_settings(database, *sim.address, delivery={**SEPARATE, **delivery})
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t",
                           "extensions": "101-110"}]
    connector = Connector(settings).start()
    wait_until(lambda: connector.resyncs and connector.deliverer.running, timeout=60,
               what="connected, resynced, and the delivery process delivering")
    return connector


@pytest.fixture
def world(backend):
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=[str(n) for n in range(101, 111)]).start()
    connector = start_separate(backend.url, sim, crm)
    yield sim, crm, connector
    connector.stop()
    sim.stop()
    crm.stop()


def health(connector) -> dict:
    return requests.get(connector.http.url + "/api/v1/health", timeout=30).json()


def metrics_text(connector) -> str:
    return requests.get(connector.http.url + "/metrics", timeout=30).text


def metric_value(text: str, sample: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(sample + " ")]
    return float(line.rsplit(" ", 1)[1])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_webhooks_leave_from_the_delivery_process_and_health_and_metrics_count_them(world):
    sim, crm, connector = world
    child = connector.deliverer.pid
    assert child != os.getpid() and alive(child)
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: len(crm.requests) >= 2, timeout=60, what="two webhooks (woken by the commit)")
    assert [r.event_type for r in crm.requests] == ["incoming_call", "call_answered"]
    wait_until(lambda: health(connector)["delivery"]["engine"]["delivered"] == 2, timeout=60,
               what="the child's status reaching the health endpoint")
    engine = health(connector)["delivery"]["engine"]
    assert engine["running"] is True
    process = engine["process"]
    assert {k: process[k] for k in ("mode", "up", "pid", "restarts", "last_exit")} == {
        "mode": "separate", "up": True, "pid": child, "restarts": 0, "last_exit": ""}
    (only,) = process["children"]  # [delivery] processes = 1
    assert only["index"] == 1 and only["pid"] == child and only["delivered"] == 2
    assert only["instance"] == engine["instance"]  # the connector's own claims name, kept across restarts
    assert only["cpu_seconds"] > 0 and only["rss_bytes"] > 10 * 2**20  # the child's own figures
    assert [e["state"] for e in engine["endpoints"]] == ["healthy"]
    text = metrics_text(connector)
    endpoint = crm.url.split("/wsapi")[0].rstrip("/")
    assert (f'esl_connector_delivery_requests_total{{customer="acme",endpoint="{endpoint}",'
            f'outcome="delivered"}} 2.0') in text
    assert 'esl_connector_outbox_results_total{customer="acme",status="delivered"} 2.0' in text
    assert 'esl_connector_delivery_latency_seconds_count{customer="acme"} 2.0' in text
    assert 'esl_connector_delivery_process_up{child="1"} 1.0' in text
    assert 'esl_connector_delivery_process_restarts_total{child="1"} 0.0' in text
    cpu = metric_value(text, 'esl_connector_delivery_process_cpu_seconds_total{child="1"}')
    rss = metric_value(text, 'esl_connector_delivery_process_resident_memory_bytes{child="1"}')
    assert cpu > 0 and cpu != metric_value(text, "process_cpu_seconds_total")  # the child's, not ours
    assert rss > 10 * 2**20


def test_an_admin_retry_of_a_dead_delivery_is_sent_by_the_delivery_process(world):
    sim, crm, connector = world
    crm.fail_next(1, 400)  # a 4xx other than 408/429: given up at once, a dead letter
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: queries.outbox_counts(connector.db).get("dead") == 1, timeout=60,
               what="the first webhook dead")
    dead = requests.get(connector.http.url + "/api/v1/deliveries?status=dead", timeout=30).json()
    (row,) = dead["deliveries"]
    answer = requests.post(f"{connector.http.url}/api/v1/deliveries/{row['id']}/retry", timeout=30)
    assert answer.status_code == 200
    wait_until(lambda: queries.outbox_counts(connector.db).get("delivered") == 2, timeout=60,
               what="the retried row delivered (the wake forwarded to the child)")
    first = [r for r in crm.requests if r.event_type == row["event_type"]]
    assert [r.status for r in first] == [400, 200]
    assert first[0].headers["X-Event-Id"] == first[1].headers["X-Event-Id"]


@pytest.mark.timeout(300)  # two Python starts and a few hundred webhooks: minutes on a loaded machine
def test_a_delivery_process_killed_mid_load_is_restarted_and_every_webhook_arrives(world):
    """SIGKILL loses nothing: rows whose outcome was not committed are still due
    and go again. What can be sent twice is a request in flight at the kill
    (at most per_endpoint_concurrency to the one CRM here)."""
    sim, crm, connector = world
    # calls until stopped (a run of N simulated seconds lasts minutes on a loaded machine)
    traffic = gevent.spawn(run_traffic, sim.pbx, 20.0, [str(n) for n in range(101, 111)], None, 7)
    wait_until(lambda: len(crm.requests) >= 20, timeout=60, what="deliveries under way")
    first = connector.deliverer.pid
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: connector.deliverer.running and connector.deliverer.pid != first, timeout=60,
               what="the delivery process started again")  # a loaded machine: a Python start takes seconds
    restarted = len(crm.requests)
    wait_until(lambda: len(crm.requests) >= restarted + 20, timeout=60, what="the new one delivering")
    traffic.kill()
    # the calls under way end too: no row is added while the outbox is compared with what arrived
    wait_until(lambda: not sim.pbx.channels and not queries.list_calls(connector.db, active=True),
               timeout=60, what="every call ended")
    connector.writer.flush()

    def all_done():
        counts = queries.outbox_counts(connector.db)
        return counts.get("pending", 0) + counts.get("retrying", 0) == 0 and counts.get("delivered", 0) > 0
    wait_until(all_done, timeout=90, what="every outbox row delivered")
    stored = {row.event_id for row in queries.list_outbox(connector.db, limit=100000)}
    received = [r.headers["X-Event-Id"] for r in list(crm.requests)]
    assert set(received) == stored
    assert len(received) - len(set(received)) <= connector.settings.delivery.per_endpoint_concurrency
    engine = health(connector)["delivery"]["engine"]
    assert engine["process"]["restarts"] == 1 and engine["process"]["last_exit"] == "killed by SIGKILL"
    assert 'esl_connector_delivery_process_restarts_total{child="1"} 1.0' in metrics_text(connector)
    assert engine["running"] is True, engine


def test_the_health_endpoint_says_when_the_delivery_process_is_down(backend, tmp_path):
    """A delivery process that cannot start (its recording key spoilt meanwhile)
    is reported, not hidden: health is degraded with the reason."""
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=["101"]).start()
    settings = connector_settings(backend.url, *sim.address, delivery=SEPARATE)
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101"}]
    settings.recordings.directory = str(tmp_path)  # the parent creates the key file...
    settings.http.public_url = "http://127.0.0.1:1"
    settings.recordings.key_file = str(tmp_path / "recording.key")
    connector = Connector(settings).start()
    try:
        wait_until(lambda: connector.deliverer.running, timeout=60, what="the delivery process up")
        (tmp_path / "recording.key").write_text("short\n")  # ...which the next child refuses
        os.kill(connector.deliverer.pid, signal.SIGKILL)
        wait_until(lambda: health(connector)["delivery"]["engine"]["process"]["restarts"] >= 2, timeout=60,
                   what="the child failing to start again")
        answer = health(connector)
        assert answer["status"] == "degraded"
        assert answer["delivery"]["engine"]["running"] is False
        assert answer["delivery"]["engine"]["process"]["up"] is False
        assert "could not start" in answer["delivery"]["engine"]["last_error"]
    finally:
        connector.stop()
        sim.stop()
        crm.stop()


def test_the_delivery_process_logs_where_the_connector_logs(tmp_path, capfd):
    """A connector logging to a file (the demo while the TUI owns the terminal):
    its delivery process's lines go to that file too, none to the terminal."""
    crm = CrmReceiver().start()
    sim = Simulator(speed=40, extensions=["101"]).start()
    settings = connector_settings(tmp_path / "c.db", *sim.address, delivery=SEPARATE)
    settings.customers = [{"code": "acme", "domain_crm": crm.url, "secret": "s3cr3t", "extensions": "101"}]
    settings.logging.level = "INFO"
    log_file = tmp_path / "connector.log"
    connector = Connector(settings, log_file=str(log_file)).start()
    try:
        wait_until(lambda: connector.deliverer.running, timeout=20, what="the delivery process up")
        wait_until(lambda: log_file.exists() and "delivering as" in log_file.read_text(), timeout=10,
                   what="the delivery process's first line in the connector's log file")
        assert f"(pid {connector.deliverer.pid})" in log_file.read_text()
    finally:
        connector.stop()
        sim.stop()
        crm.stop()
    assert "delivering as" not in capfd.readouterr().err


def test_the_number_of_delivery_processes_is_checked():
    from esl_connector.settings.config import ConfigError, settings_from_dict
    for wrong in (0, 17):
        with pytest.raises(ConfigError) as info:
            settings_from_dict({"delivery": {"process": "separate", "processes": wrong}}, env={})
        assert any(p.startswith("delivery.processes: must be 1..16") and p.endswith(f"not {wrong}")
                   for p in info.value.problems), info.value.problems
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"delivery": {"process": "inline", "processes": 2}}, env={})
    assert any("delivery.processes: 2 needs delivery.process = \"separate\"" in p for p in info.value.problems)
    assert settings_from_dict({"delivery": {"process": "separate", "processes": 3}}, env={}).delivery.processes == 3


# -- the real command: esl-connector run --------------------------------------------------

@pytest.fixture
def rig(backend, tmp_path):
    yield from restart_rig(tmp_path, backend)


def start_command(rig, tmp_path) -> tuple:
    from restart_harness import write_config
    sim, receiver, process, db = rig
    write_config(process.config, db.url, sim.address[1], receiver.url, "101-130",
                 delivery='process = "separate"')
    process.start()
    wait_until(lambda: (process.health()["delivery"]["engine"] or {}).get("running"), timeout=60,
               what="the delivery process delivering")
    return sim, receiver, process, process.health()["delivery"]["engine"]["process"]["pid"]


def test_sigterm_stops_the_connector_and_its_delivery_process(rig, tmp_path):
    sim, receiver, process, child = start_command(rig, tmp_path)
    assert run_scenario(sim.pbx, "inbound_answered").wait(30)
    wait_until(lambda: len(receiver.requests) >= 2, timeout=60, what="two webhooks")
    assert process.stop() == 0
    wait_until(lambda: not alive(child), timeout=60, what="the delivery process gone")
    log = process.log_path.read_text()
    assert "connector stopped; everything received was committed" in log
    assert "killing it" not in log


def test_the_delivery_process_exits_when_the_connector_is_killed(rig, tmp_path):
    sim, receiver, process, child = start_command(rig, tmp_path)
    process.signal(signal.SIGKILL)
    wait_until(lambda: not alive(child), timeout=60, what="the orphaned delivery process exiting")
    assert "the connector is gone" in process.log_path.read_text()


def test_the_process_mode_is_checked_with_its_key():
    from esl_connector.settings.config import ConfigError, settings_from_dict
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"delivery": {"process": "threads"}}, env={})
    assert "delivery.process: must be 'inline' or 'separate', not 'threads'" in info.value.problems
    assert settings_from_dict({"delivery": {"process": "separate"}}, env={}).delivery.process == "separate"
